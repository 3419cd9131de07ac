#!/usr/bin/python3
"""hostile_clients_test.py: duplex-server against clients that try to make it
hold memory or spin (issue 14), over raw sockets, with the server's resident
memory (VmRSS) sampled and bounded.

    /usr/bin/python3 tests/interop/hostile_clients_test.py PATH/duplex-server [CASE ...]

Each case starts its own duplex-server (--port 0, in a process group of its
own), floods it for a few seconds without reading what it sends back, and
checks that the server's RSS stayed within the limit that applies plus a
stated slack, that it still answers /healthz promptly, and what the client
got (a Close code, a 503). Every flood is bounded in time; a watchdog
(SIGALRM) ends the run after WATCHDOG seconds; every server's process group
is killed on every exit path. Prints one line per case, then "N passed, N
failed"; exits 0 only if all pass.

The slack: a server's RSS moves by a few MiB on its own (allocator arenas,
the loop's 512 KiB read buffer, the kernel's pages for a fresh thread); the
bounds below give 8 MiB for that, plus what the limits let a peer queue.
"""
import os
import re
import select
import signal
import socket
import subprocess
import sys
import time

from raw_ws import Fail, Raw, check, frame, upgrade_request

WATCHDOG = 150
HERE = os.path.dirname(os.path.abspath(__file__))
WEB_DIR = os.path.normpath(os.path.join(HERE, '..', '..', 'web'))
MiB = 1 << 20
SLACK = 8 * MiB

servers = []


class Server:
    def __init__(self, binary, *args, prefix=()):
        cmd = list(prefix) + [binary, '--port', '0', '--threads', '1', '--web', WEB_DIR] + list(args)
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True)
        servers.append(self)
        line = self.proc.stdout.readline().decode()
        m = re.search(r'listening on http://127\.0\.0\.1:(\d+)', line)
        check(m, f'duplex-server did not start: {line!r}')
        self.port = int(m.group(1))
        self.pid = self.proc.pid
        # With a prefix (prlimit), the pid is prlimit's, which execs the server.

    def rss(self):
        with open(f'/proc/{self.pid}/status') as f:
            for line in f:
                if line.startswith('VmRSS:'):
                    return int(line.split()[1]) * 1024
        raise Fail('no VmRSS')

    def cpu_seconds(self):
        with open(f'/proc/{self.pid}/stat') as f:
            fields = f.read().rsplit(')', 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')

    def healthz_seconds(self):
        start = time.monotonic()
        raw = Raw(self.port)
        raw.send(b'GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n')
        status, _ = raw.read_http_head(5)
        check(status == 200, f'/healthz answered {status}')
        raw.sock.close()
        return time.monotonic() - start

    def metric(self, name):
        raw = Raw(self.port)
        raw.send(b'GET /metrics HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n')
        _, headers = raw.read_http_head(5)
        body = raw.read_body(headers).decode()
        raw.sock.close()
        m = re.search(rf'^{name} (\d+)$', body, re.M)
        return int(m.group(1)) if m else None

    def stop(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait()


def flood(socks, payload, seconds, on_tick=None):
    """Writes `payload` again and again to every socket in `socks` for
    `seconds`, never reading; a socket that stops taking bytes (the server
    stopped reading) or is closed simply waits. Calls on_tick() every 50 ms."""
    for s in socks:
        s.setblocking(False)
    end = time.monotonic() + seconds
    next_tick = 0
    live = list(socks)
    while time.monotonic() < end and live:
        _, writable, _ = select.select([], live, [], 0.05)
        for s in writable:
            try:
                s.send(payload)
            except BlockingIOError:
                pass
            except OSError:
                live.remove(s)  # closed by the server
        if on_tick and time.monotonic() >= next_tick:
            on_tick()
            next_tick = time.monotonic() + 0.05


def upgraded(port, path, rcvbuf=16384):
    raw = Raw(port, rcvbuf=rcvbuf)
    raw.send(upgrade_request(path))
    status, _ = raw.read_http_head()
    check(status == 101, f'{path}: handshake got {status}')
    return raw


def watch_rss(server):
    peak = [server.rss()]

    def tick():
        peak[0] = max(peak[0], server.rss())
    return peak, tick


def close_code(raw, seconds=5):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        opcode, payload = raw.read_frame(deadline - time.monotonic())
        if opcode == 0x8:
            return int.from_bytes(payload[:2], 'big') if len(payload) >= 2 else 1005
    raise Fail('no Close frame')


# ---------------------------------------------------------------- cases

def ping_flood(binary, path, *args):
    budget = 1 * MiB
    srv = Server(binary, '--max-backpressure', str(budget), *args)
    base = srv.rss()
    raw = upgraded(srv.port, path)
    ping = frame(0x9, b'p' * 125) * 500
    peak, tick = watch_rss(srv)
    flood([raw.sock], ping, 4, tick)
    raw.sock.setblocking(True)
    grew = peak[0] - base
    bound = budget + 512 * 1024 + SLACK  # the budget, one read's replies, slack
    check(grew <= bound, f'RSS grew {grew >> 20} MiB under a ping flood (bound {bound >> 20} MiB)')
    took = srv.healthz_seconds()
    check(took < 1, f'/healthz took {took:.2f} s after the flood')
    return srv, grew


def case_ping_flood_echo_drop(binary):
    """Pings on /echo, never read, --backpressure drop: reading stops."""
    srv, grew = ping_flood(binary, '/echo', '--backpressure', 'drop')
    pauses = srv.metric('duplex_backpressure_read_pauses_total')
    check(pauses and pauses >= 1, f'no read pause counted ({pauses})')
    return f'RSS +{grew / MiB:.1f} MiB, reading paused {pauses}x'


def case_ping_flood_echo_close(binary):
    """Pings on /echo, never read, --backpressure close: closed with 1008."""
    srv, grew = ping_flood(binary, '/echo')
    closes = srv.metric('duplex_slow_consumer_closes_total')
    check(closes == 1, f'slow consumer closes: {closes}, want 1')
    return f'RSS +{grew / MiB:.1f} MiB, closed as a slow consumer'


def case_ping_flood_signal(binary):
    """Pings on /signal (its own 1 MiB budget), never read."""
    srv, grew = ping_flood(binary, '/signal')
    closes = srv.metric('duplex_slow_consumer_closes_total')
    check(closes == 1, f'slow consumer closes: {closes}, want 1')
    return f'RSS +{grew / MiB:.1f} MiB, closed as a slow consumer'


def case_pipelined_http(binary):
    """GET / pipelined in batches, responses never read."""
    budget = 1 * MiB
    srv = Server(binary, '--max-backpressure', str(budget))
    base = srv.rss()
    raw = Raw(srv.port, rcvbuf=16384)
    peak, tick = watch_rss(srv)
    flood([raw.sock], b'GET / HTTP/1.1\r\nHost: a\r\n\r\n' * 200, 4, tick)
    grew = peak[0] - base
    # The budget, one response over it, one read's worth of held requests.
    bound = budget + 64 * 1024 + 512 * 1024 + SLACK
    check(grew <= bound, f'RSS grew {grew >> 20} MiB under pipelined requests (bound {bound >> 20} MiB)')
    took = srv.healthz_seconds()
    check(took < 1, f'/healthz took {took:.2f} s')
    return f'RSS +{grew / MiB:.1f} MiB'


def case_signal_huge_frames(binary):
    """Twenty /signal connections each declare a 14 MiB frame and send 256 KiB of it."""
    srv = Server(binary)
    base = srv.rss()
    head = bytes([0x81, 0x80 | 127]) + (14 << 20).to_bytes(8, 'big') + b'\0\0\0\0'
    codes = []
    peak = base
    for _ in range(20):
        raw = upgraded(srv.port, '/signal')
        raw.send(head)
        try:
            raw.sock.sendall(b'x' * (256 * 1024))
        except OSError:
            pass  # closed already: it did not wait for the payload
        codes.append(close_code(raw))
        peak = max(peak, srv.rss())
    check(set(codes) == {1009}, f'close codes {sorted(set(codes))}, want 1009')
    grew = peak - base
    check(grew <= SLACK, f'RSS grew {grew >> 20} MiB (bound {SLACK >> 20} MiB)')
    return f'20 x 1009 at the header, RSS +{grew / MiB:.1f} MiB'


def case_slow_subscribers(binary):
    """Eight subscribers that never read, --backpressure drop, 16 MiB budget each."""
    budget = 16 * MiB
    srv = Server(binary, '--backpressure', 'drop', '--max-backpressure', str(budget))
    base = srv.rss()
    subs = [upgraded(srv.port, '/pubsub/t') for _ in range(8)]
    pub = upgraded(srv.port, '/pubsub/t')
    message = frame(0x2, b'm' * (64 * 1024))
    peak, tick = watch_rss(srv)
    flood([pub.sock], message, 5, tick)
    grew = peak[0] - base
    # Each may hold its budget plus one message; the limit is the real one.
    bound = 8 * (budget + 64 * 1024) + SLACK
    drops = srv.metric('duplex_backpressure_drops_total')
    check(drops and drops > 0, 'no message was dropped: the subscribers never filled their budget')
    check(grew <= bound, f'RSS grew {grew >> 20} MiB for 8 slow subscribers (bound {bound >> 20} MiB)')
    for s in subs:
        s.sock.close()
    return f'RSS +{grew / MiB:.0f} MiB for 8 x {budget >> 20} MiB budgets, {drops} drops'


def case_out_of_descriptors(binary):
    """64 descriptors allowed, 100 connections held: no busy loop, 503s, then service again."""
    srv = Server(binary, prefix=('prlimit', '--nofile=64:64'))
    held = []
    for _ in range(100):
        s = socket.create_connection(('127.0.0.1', srv.port), timeout=5)
        held.append(s)
    cpu0, t0 = srv.cpu_seconds(), time.monotonic()
    time.sleep(2)  # measures the CPU the server burns meanwhile: it must be idle, not spinning
    cpu = srv.cpu_seconds() - cpu0
    wall = time.monotonic() - t0
    check(cpu < 0.3 * wall, f'the server burned {cpu:.2f} s of CPU in {wall:.1f} s while out of descriptors')
    refused = 0
    for s in held:
        s.setblocking(False)
        try:
            data = s.recv(200)
        except BlockingIOError:
            continue
        except ConnectionResetError:
            continue
        if data.startswith(b'HTTP/1.1 503'):
            refused += 1
    check(refused >= 20, f'{refused} connections were told 503, want the ones past the limit')
    for s in held:
        s.close()
    deadline = time.monotonic() + 5
    while True:
        try:
            took = srv.healthz_seconds()
            break
        except (Fail, OSError):
            if time.monotonic() > deadline:
                raise Fail('/healthz did not answer once the connections were gone')
    exhausted = srv.metric('duplex_descriptor_exhaustions_total')
    check(exhausted and exhausted >= refused, f'exhaustions counted: {exhausted}')
    return f'CPU {cpu:.2f} s in {wall:.1f} s, {refused} told 503, /healthz in {took * 1000:.0f} ms after'


CASES = [case_ping_flood_echo_drop, case_ping_flood_echo_close, case_ping_flood_signal, case_pipelined_http,
         case_signal_huge_frames, case_slow_subscribers, case_out_of_descriptors]


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else os.environ.get('DUPLEX_SERVER', 'duplex-server')
    wanted = sys.argv[2:]

    def on_alarm(*_):
        raise TimeoutError(f'watchdog: the run took over {WATCHDOG} s')
    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(WATCHDOG)
    passed = failed = 0
    try:
        for case in CASES:
            if wanted and case.__name__[5:] not in wanted:
                continue
            try:
                result = case(binary)
                print(f'ok   {case.__name__[5:]}: {result}', flush=True)
                passed += 1
            except (Fail, OSError) as e:
                print(f'FAIL {case.__name__[5:]}: {e}', flush=True)
                failed += 1
            finally:
                while servers:
                    servers.pop().stop()
    finally:
        signal.alarm(0)
        while servers:
            servers.pop().stop()
    print(f'{passed} passed, {failed} failed')
    sys.exit(0 if failed == 0 and passed > 0 else 1)


if __name__ == '__main__':
    main()
