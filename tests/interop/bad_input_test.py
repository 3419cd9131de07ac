#!/usr/bin/python3
"""bad_input_test.py: duplex-server against hostile or broken clients, over raw sockets.

    /usr/bin/python3 tests/interop/bad_input_test.py PATH/duplex-server
    (or DUPLEX_SERVER=PATH/duplex-server /usr/bin/python3 tests/interop/bad_input_test.py)

Starts duplex-server (--port 0, --max-message-size 1024, --web tests/../web) in a
process group of its own, and opens one healthy python3-websockets connection
to /echo that stays open for the whole run. Every bad case runs on a fresh raw
TCP connection; after each one the healthy connection must still echo and the
server must still be running. The server's handshake timeout (10 s by default)
makes case (f) take about 10 s. A watchdog (SIGALRM) ends the run after
WATCHDOG seconds; the server's process group is killed on every exit path.
Prints one line per case, then "N passed, N failed"; exits 0 only if all pass.
"""
import asyncio
import os
import re
import signal
import subprocess
import sys
import time

import websockets

from raw_ws import ACCEPT, Fail, Raw, check, frame, upgrade_request

WATCHDOG = 90
MAX_MESSAGE = 1024
HERE = os.path.dirname(os.path.abspath(__file__))
WEB_DIR = os.path.normpath(os.path.join(HERE, '..', '..', 'web'))


# ---------------------------------------------------------------- raw client (raw_ws.py)

def upgraded(port):
    raw = Raw(port)
    raw.send(upgrade_request())
    status, headers = raw.read_http_head()
    check(status == 101, f'handshake got {status}, want 101')
    check(headers.get('sec-websocket-accept') == ACCEPT, f'bad Sec-WebSocket-Accept {headers}')
    return raw


def expect_close_code(raw, want):
    # Anything before the Close (there should be nothing) is skipped.
    for _ in range(4):
        opcode, payload = raw.read_frame()
        if opcode == 0x8:
            break
    else:
        raise Fail('no Close frame')
    check(len(payload) >= 2, f'Close frame without a status code: {payload!r}')
    code = int.from_bytes(payload[:2], 'big')
    reason = payload[2:]
    check(code == want, f'Close code {code} (reason {reason!r}), want {want}')
    try:
        reason.decode('utf-8')
    except UnicodeDecodeError:
        raise Fail(f'Close reason is not UTF-8: {reason!r}')
    # We do not answer the Close: a failed connection must be dropped by the server itself.
    check(raw.wait_closed(5), 'the server did not close the TCP connection within 5 s after its Close')
    return f'Close {code} {reason.decode()!r}, then TCP closed'


def expect_http_error(raw, want_status, seconds=5, must_close=True):
    status, headers = raw.read_http_head(seconds)
    body = raw.read_body(headers)
    check(status == want_status, f'status {status} (body {body[:80]!r}), want {want_status}')
    if must_close:
        check(raw.wait_closed(5), f'the server did not close the connection after its {status}')
    return status, headers, body


# ---------------------------------------------------------------- cases

def case_unmasked(port):
    raw = upgraded(port)
    raw.send(frame(0x1, b'not masked', masked=False))
    return expect_close_code(raw, 1002)


def case_bad_utf8(port):
    raw = upgraded(port)
    raw.send(frame(0x1, b'ok so far \xc3\x28 then not'))
    return expect_close_code(raw, 1007)


def case_too_big(port):
    raw = upgraded(port)
    raw.send(frame(0x2, b'x' * 2000))
    return expect_close_code(raw, 1009)


def case_garbage(port):
    out = []
    for garbage in (b'\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\xff\xfe\r\n\r\n',
                    b'HELLO THERE this is not http\r\n\r\n'):
        raw = Raw(port)
        raw.send(garbage)
        status, _, _ = expect_http_error(raw, 400)
        raw.close()
        out.append(str(status))
    return 'HTTP ' + ', '.join(out) + ', then closed'


def case_long_header(port):
    raw = Raw(port)
    raw.send(b'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ' + b'a' * 20480 + b'\r\n\r\n')
    expect_http_error(raw, 431)
    raw.close()
    raw = Raw(port)
    raw.send(b'GET /' + b'a' * 20480 + b' HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')
    expect_http_error(raw, 414)
    raw.close()
    return '20 KiB header line: 431, 20 KiB request line: 414, both closed'


def case_stalled_head(port):
    raw = Raw(port)
    raw.send(b'GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websock')
    t0 = time.monotonic()
    closed = raw.wait_closed(15)
    took = time.monotonic() - t0
    check(closed, 'connection with half a request head still open after 15 s')
    first = raw.buf.split(b'\r\n', 1)[0].decode('latin1')
    extra = f' (it answered {first!r} first)' if raw.buf else ''
    return f'closed after {took:.1f} s{extra}'


def case_plain_get(port):
    raw = Raw(port)
    raw.send(b'GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')
    status, headers, _ = expect_http_error(raw, 426, must_close=False)
    raw.close()
    return f'{status}, Upgrade: {headers.get("upgrade")}'


def case_version_8(port):
    raw = Raw(port)
    raw.send(upgrade_request(version='8'))
    status, headers, _ = expect_http_error(raw, 426, must_close=False)
    raw.close()
    check(headers.get('sec-websocket-version') == '13',
          f'426 without "Sec-WebSocket-Version: 13" (headers {headers})')
    return f'{status} with Sec-WebSocket-Version: 13'


def get(port, target):
    raw = Raw(port)
    raw.send(f'GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n'.encode())
    status, headers = raw.read_http_head()
    body = raw.read_body(headers)
    raw.close()
    return status, body


def case_traversal(port):
    # Control: the page itself is served.
    status, body = get(port, '/')
    check(status == 200 and b'app.js' in body, f'GET / gave {status}, not the page')
    with open('/etc/passwd', 'rb') as f:
        first_line = f.readline().strip()
    seen = []
    for target in ('/../../etc/passwd', '/%2e%2e/%2e%2e/etc/passwd'):
        status, body = get(port, target)
        check(first_line not in body, f'GET {target} returned /etc/passwd!')
        check(status == 404, f'GET {target} gave {status}, want 404')
        seen.append(f'{target} {status}')
    # More spellings: any refusal will do (400 or 404), never the file.
    for target in ('/%2E%2E/%2E%2E/%2E%2E/etc/passwd', '/..%2f..%2f..%2fetc%2fpasswd', '/echo/../../../etc/passwd',
                   '/./../../../../etc/passwd', '/..\\..\\..\\etc\\passwd', '//etc/passwd',
                   '/%252e%252e/%252e%252e/etc/passwd', '/index.html%00../../etc/passwd'):
        status, body = get(port, target)
        check(first_line not in body, f'GET {target} returned /etc/passwd!')
        check(status in (400, 404), f'GET {target} gave {status}, want 400 or 404')
        seen.append(f'{status}')
    return ', '.join(seen[:2]) + f'; {len(seen) - 2} other spellings refused ({"/".join(sorted(set(seen[2:])))})'


CASES = [
    ('a unmasked client frame -> 1002', case_unmasked),
    ('b invalid UTF-8 text -> 1007', case_bad_utf8),
    ('c 2000-byte frame over a 1024 limit -> 1009', case_too_big),
    ('d garbage instead of HTTP -> 400', case_garbage),
    ('e 20 KiB header line -> 431 / request line -> 414', case_long_header),
    ('f half a request head, then silence -> closed within 15 s', case_stalled_head),
    ('g plain GET /echo -> 426', case_plain_get),
    ('h Sec-WebSocket-Version: 8 -> 426', case_version_8),
    ('i path traversal -> 404', case_traversal),
]


# ---------------------------------------------------------------- driver

async def healthy_echo(ws, n):
    msg = f'still alive {n} \u2713'
    await ws.send(msg)
    got = await asyncio.wait_for(ws.recv(), 5)
    check(got == msg, f'healthy connection echoed {got!r}, want {msg!r}')


async def run(port, server):
    passed = failed = 0
    async with websockets.connect(f'ws://127.0.0.1:{port}/echo', open_timeout=10, close_timeout=5,
                                  ping_interval=None, compression=None) as healthy:
        await healthy_echo(healthy, 0)
        for n, (name, fn) in enumerate(CASES, 1):
            t0 = time.monotonic()
            try:
                detail = await asyncio.get_running_loop().run_in_executor(None, fn, port)
                check(server.poll() is None, f'duplex-server died (exit {server.returncode})')
                try:
                    await healthy_echo(healthy, n)
                except Fail:
                    raise
                except Exception as e:  # noqa: BLE001
                    raise Fail(f'healthy connection broke: {type(e).__name__}: {e}')
                print(f'ok   {name}: {detail} [{time.monotonic() - t0:.1f} s]', flush=True)
                passed += 1
            except Fail as e:
                print(f'FAIL {name}: {e}', flush=True)
                failed += 1
                if server.poll() is not None or healthy.closed:
                    print('the server or the healthy connection is gone; stopping', flush=True)
                    failed += len(CASES) - n
                    break
        if not healthy.closed:
            await healthy.close(1000)
            if healthy.close_code != 1000:
                print(f'FAIL healthy connection closed with {healthy.close_code}, want 1000')
                failed += 1
    return passed, failed


def main():
    exe = sys.argv[1] if len(sys.argv) > 1 else os.environ.get('DUPLEX_SERVER')
    if not exe or not os.access(exe, os.X_OK):
        sys.exit('usage: bad_input_test.py PATH/duplex-server (or set DUPLEX_SERVER)')
    server = subprocess.Popen([exe, '--host', '127.0.0.1', '--port', '0', '--web', WEB_DIR,
                               '--max-message-size', str(MAX_MESSAGE)],
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True, start_new_session=True)

    def kill_server():
        try:
            os.killpg(server.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def on_alarm(*_):
        print(f'FAIL watchdog: not finished after {WATCHDOG} s', flush=True)
        kill_server()
        os._exit(124)

    def on_term(sig, _):
        kill_server()
        os._exit(128 + sig)

    signal.signal(signal.SIGALRM, on_alarm)
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    signal.alarm(WATCHDOG)
    try:
        line = server.stdout.readline().strip()
        m = re.fullmatch(r'listening on http://127\.0\.0\.1:(\d+)', line)
        if not m:
            print(f'FAIL duplex-server did not start: {line!r}')
            return 1
        port = int(m.group(1))
        print(f'duplex-server on 127.0.0.1:{port}, --max-message-size {MAX_MESSAGE}, --web {WEB_DIR}', flush=True)
        passed, failed = asyncio.run(run(port, server))
        # And it still stops cleanly.
        server.send_signal(signal.SIGTERM)
        try:
            rc = server.wait(5)
        except subprocess.TimeoutExpired:
            rc = 'still running 5 s after SIGTERM'
        if rc != 0:
            print(f'FAIL duplex-server on SIGTERM: {rc}')
            failed += 1
        print(f'{passed} passed, {failed} failed', flush=True)
        return 0 if failed == 0 else 1
    finally:
        signal.alarm(0)
        kill_server()
        if server.poll() is None:
            server.wait()


if __name__ == '__main__':
    sys.exit(main())
