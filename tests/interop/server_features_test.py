#!/usr/bin/python3
"""server_features_test.py: duplex-server's own features, end to end.

    /usr/bin/python3 tests/interop/server_features_test.py PATH/duplex-server
    (or DUPLEX_SERVER=PATH/duplex-server /usr/bin/python3 tests/interop/server_features_test.py)
    add case names to run only those: ... PATH/duplex-server pubsub heartbeat

Pub/sub across loops, slow consumers (drop and close) with the server's RSS
watched, graceful shutdown, connection limits, heartbeats and idle timeouts,
/healthz and /metrics, port checks with several loops, usage errors. Each case
starts fresh duplex-servers (127.0.0.1 only, --port 0 unless a case needs a
held port, the port read from the "listening on http://127.0.0.1:PORT" line),
each in a process group of its own, killed when the case ends however it ends;
a watchdog (SIGALRM) ends the run after WATCHDOG seconds and SIGTERM/SIGINT
end it too, both killing every group still running. Clients are Debian's
python3-websockets 10.4 (legacy API) and raw sockets. Prints one line per
case, then "N passed, N failed"; exits 0 only if all pass.
"""
import asyncio
import inspect
import os
import re
import select
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

import websockets

from raw_ws import ACCEPT, Fail, Raw, check, frame, upgrade_request

WATCHDOG = 150
EXE = None
LIVE = []  # every duplex-server Popen started, for the exit paths


# ---------------------------------------------------------------- servers

class Server:
    """duplex-server in a process group of its own; `with` kills the group on the way out."""

    def __init__(self, *args, port=0, host='127.0.0.1', expect_listening=True):
        self.err = tempfile.TemporaryFile()
        self.argv = [EXE, '--host', host, '--port', str(port), *args]
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self.err,
                                     start_new_session=True)
        LIVE.append(self.proc)
        self.port = None
        self.stdout = b''
        if expect_listening:
            line = self.first_line(10)
            m = re.fullmatch(r'listening on http://127\.0\.0\.1:(\d+)', line)
            check(m, f'duplex-server printed {line!r}, not its listening line; stderr: {self.stderr()!r}')
            self.port = int(m.group(1))

    def first_line(self, seconds):
        deadline = time.monotonic() + seconds
        fd = self.proc.stdout.fileno()
        while b'\n' not in self.stdout:
            left = deadline - time.monotonic()
            check(left > 0, f'duplex-server printed no line within {seconds} s')
            if not select.select([fd], [], [], left)[0]:
                continue
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            self.stdout += chunk
        return self.stdout.split(b'\n', 1)[0].decode(errors='replace')

    def stderr(self):
        self.err.seek(0)
        return self.err.read().decode(errors='replace')

    @property
    def pid(self):
        return self.proc.pid

    def rss_kib(self):
        with open(f'/proc/{self.pid}/status') as f:
            for line in f:
                if line.startswith('VmRSS:'):
                    return int(line.split()[1])
        raise Fail('no VmRSS for duplex-server')

    def wait_exit(self, seconds):
        try:
            return self.proc.wait(seconds)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, seconds=5):
        """SIGTERM; it must exit 0 within `seconds`."""
        self.proc.send_signal(signal.SIGTERM)
        rc = self.wait_exit(seconds)
        check(rc is not None, f'duplex-server still running {seconds} s after SIGTERM')
        check(rc == 0, f'duplex-server exited {rc} after SIGTERM; stderr: {self.stderr()[-400:]!r}')

    def kill(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()
        self.err.close()

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self.kill()


def kill_all():
    for p in LIVE:
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                p.wait(2)  # reap it
            except subprocess.TimeoutExpired:
                pass


# ---------------------------------------------------------------- raw client

def try_upgrade(port, path='/echo', bind=None, rcvbuf=None):
    """(status, Raw): the Raw stays open (after a 101 it is a WebSocket connection)."""
    raw = Raw(port, bind=bind, rcvbuf=rcvbuf)
    raw.send(upgrade_request(path))
    status, headers = raw.read_http_head()
    if status == 101:
        check(headers.get('sec-websocket-accept') == ACCEPT, f'bad Sec-WebSocket-Accept in {headers}')
    else:
        raw.read_body(headers)
    return status, raw


def raw_close(raw, seconds=5):
    """Our Close 1000, the server's Close back, then its FIN."""
    raw.send(frame(0x8, struct.pack('!H', 1000)))
    for _ in range(1000):
        opcode, payload = raw.read_frame(seconds)
        if opcode == 0x8:
            check(payload[:2] == b'\x03\xe8', f'Close answered with {payload!r}, want 1000')
            break
    check(raw.wait_closed(seconds), 'the server did not close the TCP connection after the close handshake')
    raw.close()


def http_get(port, target):
    raw = Raw(port)
    raw.send(f'GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n'.encode())
    status, headers = raw.read_http_head()
    body = raw.read_body(headers)
    # Until the server's FIN: its connection slot is free by then (a test at --max-connections counts on it).
    check(raw.wait_closed(5), f'the server did not close after answering {target} with Connection: close')
    raw.close()
    return status, headers, body


SAMPLE_RE = re.compile(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"'
                       r'(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*")*,?)?\})? '
                       r'([-+]?(?:[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?|Inf|NaN))(?: -?[0-9]+)?')


def parse_metrics(text):
    """Strict Prometheus text format 0.0.4: {'name' or 'name{labels}': value}."""
    check(text.endswith('\n'), 'metrics do not end with a newline')
    types, values = {}, {}
    for line in text[:-1].split('\n'):
        if line.startswith('#'):
            parts = line.split(None, 3)
            if len(parts) >= 3 and parts[1] == 'TYPE':
                check(len(parts) == 4 and parts[3] in ('counter', 'gauge', 'histogram', 'summary', 'untyped'),
                      f'bad TYPE line {line!r}')
                check(parts[2] not in types, f'second TYPE for {parts[2]}')
                check(not any(k.split('{')[0] == parts[2] for k in values), f'TYPE for {parts[2]} after its samples')
                types[parts[2]] = parts[3]
            elif len(parts) >= 3 and parts[1] == 'HELP':
                pass
            continue
        check(line.strip(), 'empty line in the metrics')
        m = SAMPLE_RE.fullmatch(line)
        check(m, f'not a Prometheus sample line: {line!r}')
        name = m.group(1)
        check(name in types, f'{name} has no TYPE line before it')
        if types[name] == 'counter':
            check(name.endswith('_total'), f'counter {name} does not end in _total')
        key = name + (m.group(2) or '')
        check(key not in values, f'{key} appears twice')
        values[key] = float(m.group(3))
    return values


def metrics(port):
    status, headers, body = http_get(port, '/metrics')
    check(status == 200, f'/metrics gave {status}')
    check(headers.get('content-type', '').startswith('text/plain'), f'/metrics content-type {headers}')
    return parse_metrics(body.decode())


def wait_metric(port, key, pred, seconds, what):
    deadline = time.monotonic() + seconds
    value = None
    while time.monotonic() < deadline:
        status, headers, body = http_get(port, '/metrics')
        # 503: the scrape itself came while the server was at --max-connections (every connection counts).
        if status == 200:
            value = parse_metrics(body.decode()).get(key, 0)
            if pred(value):
                return value
        time.sleep(0.05)  # polls a counter that another process moves: no event to wait on
    raise Fail(f'{what}: {key} is {value} after {seconds} s')


def wsconnect(port, path, **kw):
    for k, v in (('compression', None), ('ping_interval', None), ('open_timeout', 10), ('close_timeout', 5)):
        kw.setdefault(k, v)
    return websockets.connect(f'ws://127.0.0.1:{port}{path}', **kw)


# ---------------------------------------------------------------- 1: pub/sub

async def case_pubsub():
    with Server('--threads', '2') as srv:
        a = [await wsconnect(srv.port, '/pubsub/a') for _ in range(20)]
        b = [await wsconnect(srv.port, '/pubsub/b') for _ in range(5)]
        everyone = a + b
        got = {id(ws): [] for ws in everyone}
        count = 50
        # a[0], a[1] publish text, a[2] binary, to topic a; b[0] publishes to topic b.
        pubs = [(a[0], 'a', 0, False), (a[1], 'a', 1, False), (a[2], 'a', 2, True), (b[0], 'b', 9, False)]
        want = {}
        for ws in everyone:
            topic = 'a' if ws in a else 'b'
            want[id(ws)] = sum(count for p, t, _, _ in pubs if t == topic and p is not ws)

        async def reader(ws):
            while len(got[id(ws)]) < want[id(ws)]:
                got[id(ws)].append(await ws.recv())
            # Then nothing more may come (own echoes, the other topic).
            try:
                extra = await asyncio.wait_for(ws.recv(), 0.3)
                got[id(ws)].append(extra)
            except asyncio.TimeoutError:
                pass

        async def publisher(ws, topic, n, binary):
            for seq in range(count):
                msg = f'{topic}|{n}|{seq}|' + 'x' * (seq * 7)
                await ws.send(msg.encode() if binary else msg)

        readers = [asyncio.create_task(reader(ws)) for ws in everyone]
        await asyncio.gather(*(publisher(*p) for p in pubs))
        done, pending = await asyncio.wait(readers, timeout=15)
        for t in pending:
            t.cancel()
        for t in done:
            t.result()
        problems = []
        for i, ws in enumerate(everyone):
            topic = 'a' if ws in a else 'b'
            name = f'{topic}[{i if topic == "a" else i - 20}]'
            msgs = got[id(ws)]
            seqs = {}
            for m in msgs:
                text = m.decode() if isinstance(m, bytes) else m
                t, n, seq, _ = text.split('|', 3)
                n, seq = int(n), int(seq)
                if t != topic:
                    problems.append(f'{name} got a message of topic {t}')
                if any(p is ws and pn == n for p, _, pn, _ in pubs):
                    problems.append(f'{name} got its own message back')
                binary = next((pb for _, _, pn, pb in pubs if pn == n), None)
                if isinstance(m, bytes) != binary:
                    problems.append(f'{name}: publisher {n} message {seq} arrived as {type(m).__name__}')
                seqs.setdefault(n, []).append(seq)
            for n, s in seqs.items():
                if s != list(range(count)):
                    problems.append(f'{name}: publisher {n} seqs {s[:8]}... ({len(s)}), want 0..{count - 1} in order')
            if len(msgs) != want[id(ws)]:
                problems.append(f'{name} got {len(msgs)} messages, want {want[id(ws)]}')
        check(not problems, '; '.join(problems[:6]) + (f' (+{len(problems) - 6} more)' if len(problems) > 6 else ''))
        m = metrics(srv.port)
        check(m.get('duplex_published_total') == 4 * count, f'duplex_published_total {m.get("duplex_published_total")}')
        delivered = sum(want.values())
        check(m.get('duplex_messages_sent_total') == delivered,
              f'duplex_messages_sent_total {m.get("duplex_messages_sent_total")}, want {delivered}')
        await asyncio.gather(*(ws.close() for ws in everyone))
        check(all(ws.close_code == 1000 for ws in everyone), 'a pub/sub client did not close with 1000')
        srv.stop()
    return f'25 subscribers on 2 loops, 4 publishers x {count}: {delivered} deliveries, in order, none misrouted'


# ---------------------------------------------------------------- 2: slow consumer

FLOOD_MESSAGES = 2000
FLOOD_SIZE = 64 * 1024
MAX_BACKPRESSURE = 1 << 20
RSS_SLACK_KIB = 32 * 1024


async def flood(policy):
    with Server('--threads', '2', '--max-backpressure', str(MAX_BACKPRESSURE), '--backpressure', policy) as srv:
        # The slow consumer: a raw socket with a tiny receive buffer that never reads after the 101.
        status, slow = try_upgrade(srv.port, '/pubsub/flood', rcvbuf=4096)
        check(status == 101, f'slow consumer handshake got {status}')
        healthy = await wsconnect(srv.port, '/pubsub/flood', max_size=None)
        pub = await wsconnect(srv.port, '/pubsub/flood')
        window = 8  # messages the healthy subscriber may lag behind: 512 KiB, under the limit
        received = 0
        progress = asyncio.Event()
        order_ok = True

        async def healthy_reader():
            nonlocal received, order_ok
            while received < FLOOD_MESSAGES:
                m = await healthy.recv()
                if int.from_bytes(m[:4], 'big') != received:
                    order_ok = False
                received += 1
                progress.set()

        reader = asyncio.create_task(healthy_reader())
        filler = os.urandom(FLOOD_SIZE - 4)
        samples = []
        base = None
        t0 = time.monotonic()
        for i in range(FLOOD_MESSAGES):
            for _ in range(10000):  # bounded: at most ~20 s of waiting in all
                if received >= i - window or reader.done():
                    break
                progress.clear()
                try:
                    await asyncio.wait_for(progress.wait(), 2)
                except asyncio.TimeoutError:
                    raise Fail(f'the healthy subscriber got nothing for 2 s ({received} of {i} sent)')
            if reader.done():
                reader.result()
                raise Fail('the healthy subscriber stopped early')
            await pub.send(i.to_bytes(4, 'big') + filler)
            if i % 50 == 0:
                samples.append(srv.rss_kib())
                if i == 200:
                    base = samples[-1]
        try:
            await asyncio.wait_for(reader, 15)
        except asyncio.TimeoutError:
            raise Fail(f'the healthy subscriber got {received} of {FLOOD_MESSAGES}')
        took = time.monotonic() - t0
        final = srv.rss_kib()
        peak = max(samples[5:] + [final])
        check(order_ok, 'the healthy subscriber got the flood out of order')
        check(peak - base < RSS_SLACK_KIB and final - base < RSS_SLACK_KIB,
              f'RSS grew: {base} KiB after warm-up, peak {peak} KiB, final {final} KiB '
              f'(slack {RSS_SLACK_KIB} KiB, {FLOOD_MESSAGES * FLOOD_SIZE >> 20} MiB sent)')
        m = metrics(srv.port)
        drops = m.get('duplex_backpressure_drops_total', 0)
        check(drops > 0, 'duplex_backpressure_drops_total is 0')
        detail = (f'{FLOOD_MESSAGES} x {FLOOD_SIZE >> 10} KiB in {took:.1f} s, healthy subscriber got all in order; '
                  f'RSS {base >> 10} MiB after warm-up, peak {peak >> 10}, final {final >> 10}; {int(drops)} drops')

        if policy == 'drop':
            # Still connected: what it finally reads is whole messages in order, with gaps.
            check(m.get('duplex_connections_open') == 3, 'the slow consumer was disconnected under --backpressure drop')
            seqs = []
            for _ in range(FLOOD_MESSAGES):
                try:
                    opcode, payload = slow.read_frame(1)
                except Fail:
                    break
                check(opcode == 0x2 and len(payload) == FLOOD_SIZE, f'slow consumer got opcode {opcode}, '
                      f'{len(payload)} bytes')
                seqs.append(int.from_bytes(payload[:4], 'big'))
            check(seqs and seqs == sorted(set(seqs)) and seqs[0] == 0, f'slow consumer got seqs {seqs[:5]}...')
            check(len(seqs) < FLOOD_MESSAGES, 'the slow consumer lost nothing: no drop happened to it')
            detail += f'; the slow consumer then read {len(seqs)} whole messages in order, up to #{seqs[-1]}'
            raw_close(slow)
        else:
            # Closed: the server must let go of it, Close 1008 or not, without the client reading.
            # (The Close waits behind the queued messages; after the close timeout, 5 s, the server
            # must give up on the close handshake and drop the connection.)
            t1 = time.monotonic()
            drop_failure = ''
            try:
                wait_metric(srv.port, 'duplex_connections_open', lambda v: v == 2, 10,
                            'the slow consumer is still connected 10 s after the flood, not reading')
                dropped_after = time.monotonic() - t1
                server_dropped = True
            except Fail as e:
                server_dropped = False
                drop_failure = str(e)
            # Now it reads: messages in order, then a Close 1008 (if the server still had it queued), then EOF.
            seqs, close = [], None
            for _ in range(FLOOD_MESSAGES + 1):
                try:
                    opcode, payload = slow.read_frame(3)
                except Fail:
                    break
                if opcode == 0x8:
                    close = payload
                    break
                check(opcode == 0x2, f'slow consumer got opcode {opcode}')
                seqs.append(int.from_bytes(payload[:4], 'big'))
            check(seqs == list(range(len(seqs))), 'the slow consumer got messages out of order or with gaps '
                  'before its Close')
            if close is not None:
                code = int.from_bytes(close[:2], 'big')
                check(code == 1008, f'slow consumer closed with {code} {close[2:]!r}, want 1008')
                detail += f'; slow consumer read {len(seqs)} messages, then Close 1008 {close[2:].decode()!r}'
            else:
                detail += f'; slow consumer read {len(seqs)} messages, then {slow.why()} (no Close)'
            check(slow.wait_closed(3, keep=False), 'the slow consumer was not disconnected')
            slow.close()
            m = metrics(srv.port)
            check(m.get('duplex_connections_open') == 2, f'connections_open {m.get("duplex_connections_open")}, want 2')
            check(server_dropped, f'{drop_failure} (it then read {len(seqs)} messages, '
                  f'{"a Close 1008" if close else "no Close"} and EOF; RSS and the healthy subscriber were fine)')
            detail += f'; dropped by the server {dropped_after:.1f} s after the flood'
        await asyncio.gather(healthy.close(), pub.close())
        srv.stop()
    return detail


async def case_slow_drop():
    return await flood('drop')


async def case_slow_close():
    return await flood('close')


# ---------------------------------------------------------------- 3: graceful shutdown

async def case_shutdown():
    clients, n, size, drain_ms = 4, 500, 16 * 1024, 8000
    with Server('--threads', '2', '--drain-timeout-ms', str(drain_ms)) as srv:
        conns, sent = [], []
        for c in range(clients):
            # A small receive buffer, and not reading yet: the echoes pile up in the server.
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)
            s.settimeout(5)
            s.connect(('127.0.0.1', srv.port))
            s.setblocking(False)
            conns.append(await wsconnect(srv.port, '/echo', sock=s, max_queue=16))
            sent.append([f'{c}:{i}:'.encode() + os.urandom(size // 2).hex().encode()[:size] for i in range(n)])
        await asyncio.gather(*(asyncio.gather(*(ws.send(m) for m in msgs)) for ws, msgs in zip(conns, sent)))
        wait_metric(srv.port, 'duplex_messages_received_total', lambda v: v >= clients * n, 10,
                    'the server did not receive every message')
        m = metrics(srv.port)
        echo_bytes = clients * n * (size + 4)
        pending = echo_bytes - int(m['duplex_bytes_sent_total'])
        check(pending > 0, 'every echo had left before SIGTERM: nothing to drain')
        srv.proc.send_signal(signal.SIGTERM)
        t0 = time.monotonic()
        # New connections: never a 101; once the listeners are closed (the
        # stop reaches each loop in turn), refused. Tried until refused.
        refused = []
        while time.monotonic() - t0 < 5:
            try:
                status, raw = try_upgrade(srv.port)
                raw.close()
                check(status != 101, 'a new WebSocket connection was accepted after SIGTERM')
                refused.append(f'HTTP {status}')
            except ConnectionRefusedError:
                refused.append('refused')
                break
            except Fail as e:
                refused.append(f'closed ({e})')
        check(refused and refused[-1] == 'refused', f'connections after SIGTERM: {refused}, want refused within 5 s')
        check('SIGTERM' in srv.stderr(), f'no SIGTERM line on stderr: {srv.stderr()!r}')

        async def drain(ws, msgs):
            for i, want in enumerate(msgs):
                try:
                    got = await asyncio.wait_for(ws.recv(), 5)
                except websockets.ConnectionClosed as e:
                    raise Fail(f'closed ({e}) after {i} of {n} echoes')
                check(got == want, f'echo {i} differs: {got[:20]!r}..., want {want[:20]!r}...')
            try:
                extra = await asyncio.wait_for(ws.recv(), 5)
                raise Fail(f'a message after the echoes: {extra[:30]!r}')
            except websockets.ConnectionClosed:
                pass
            check(ws.close_code == 1001, f'close code {ws.close_code} {ws.close_reason!r}, want 1001')
            return ws.close_reason

        reasons = await asyncio.gather(*(drain(ws, msgs) for ws, msgs in zip(conns, sent)))
        rc = srv.wait_exit(max(0.1, drain_ms / 1000 + 0.5 - (time.monotonic() - t0)))
        took = time.monotonic() - t0
        check(rc is not None, f'duplex-server still running {took:.1f} s after SIGTERM (drain timeout {drain_ms} ms)')
        check(rc == 0, f'duplex-server exited {rc} after SIGTERM')
    return (f'{clients} x {n} x {size >> 10} KiB echoed, {pending >> 20} MiB still queued at SIGTERM; all echoes '
            f'then Close 1001 {reasons[0]!r}; new connections: {", ".join(refused)}; exit 0 after {took:.1f} s')


async def case_shutdown_deadline():
    # A client that never reads cannot hold the exit up past --drain-timeout-ms.
    drain_ms = 1000
    with Server('--threads', '2', '--drain-timeout-ms', str(drain_ms)) as srv:
        ws = await wsconnect(srv.port, '/echo')
        status, stuck = try_upgrade(srv.port, rcvbuf=4096)
        check(status == 101, f'handshake got {status}')
        stuck.sock.settimeout(5)
        msg = frame(0x2, os.urandom(64 * 1024))
        for _ in range(64):  # 4 MiB of echoes it will never read
            stuck.sock.sendall(msg)
        wait_metric(srv.port, 'duplex_messages_received_total', lambda v: v >= 64, 5, 'the server did not read it all')
        srv.proc.send_signal(signal.SIGTERM)
        t0 = time.monotonic()
        try:
            await asyncio.wait_for(ws.recv(), 5)
            raise Fail('a message instead of the Close')
        except websockets.ConnectionClosed:
            pass
        check(ws.close_code == 1001, f'the reading client got close {ws.close_code}, want 1001')
        rc = srv.wait_exit(drain_ms / 1000 + 2)
        took = time.monotonic() - t0
        stuck.close()
        check(rc is not None, f'still running {took:.1f} s after SIGTERM with --drain-timeout-ms {drain_ms}')
        check(rc == 0, f'exit {rc} after SIGTERM')
        check(took >= drain_ms / 1000 - 0.1, f'exited after {took:.2f} s, before the drain timeout, although the stuck '
              f'client never answered the Close')
    return f'one client not reading 4 MiB of echoes, one reading: Close 1001, exit 0 after {took:.2f} s ' \
           f'(--drain-timeout-ms {drain_ms})'


# ---------------------------------------------------------------- 4: limits

def case_max_connections():
    with Server('--threads', '2', '--max-connections', '3') as srv:
        opened = []
        for i in range(3):
            status, raw = try_upgrade(srv.port)
            check(status == 101, f'connection {i + 1} of 3 got {status}')
            opened.append(raw)
        status, raw = try_upgrade(srv.port)
        check(status == 503, f'the 4th upgrade got {status}, want 503')
        check(raw.wait_closed(5), 'the server did not close the connection after its 503')
        raw.close()
        # Pub/sub counts too.
        status, raw = try_upgrade(srv.port, '/pubsub/x')
        check(status == 503, f'a 4th upgrade to /pubsub/x got {status}, want 503')
        raw.close()
        # Plain HTTP connections count too (an idle keep-alive one must not get past the limit): 503 at the limit.
        check(http_get(srv.port, '/healthz')[0] == 503, 'a plain HTTP request at the connection limit was not refused')
        # The slot is free when the client sees the server's FIN: a client may come back at once. (It was freed a
        # loop turn later, and a reconnection accepted by another loop in between got a 503.)
        raw_close(opened.pop(0))
        status, raw = try_upgrade(srv.port)
        check(status == 101, f'right after one closed, a new upgrade got {status}, want 101')
        opened.append(raw)
        status, raw = try_upgrade(srv.port)
        check(status == 503, f'again at the limit: {status}, want 503')
        raw.close()
        raw_close(opened.pop(0))
        m = metrics(srv.port)
        check(m.get('duplex_connections_open') == 2, f'{m.get("duplex_connections_open")} open after a close, want 2')
        check(m.get('duplex_connections_refused_total') == 4 and m.get('duplex_handshakes_failed_total') == 0,
              f'refused {m.get("duplex_connections_refused_total")} (want 4), handshakes failed {m.get("duplex_handshakes_failed_total")} (want 0)')
        for raw in opened:
            raw_close(raw)
        srv.stop()
    return '3 open, 4th (and a /pubsub one, and a plain GET) 503, after a close 101 again, then 503 again'


def case_max_connections_per_ip():
    with Server('--max-connections-per-ip', '2') as srv:
        mine = []
        for i in range(2):
            status, raw = try_upgrade(srv.port)
            check(status == 101, f'connection {i + 1} of 2 from 127.0.0.1 got {status}')
            mine.append(raw)
        status, raw = try_upgrade(srv.port)
        check(status == 429, f'the 3rd from 127.0.0.1 got {status}, want 429')
        check(raw.wait_closed(5), 'the server did not close the connection after its 429')
        raw.close()
        other = []
        for i in range(2):
            status, raw = try_upgrade(srv.port, bind='127.0.0.2')
            check(status == 101, f'connection {i + 1} from 127.0.0.2 got {status}, want 101')
            other.append(raw)
        status, raw = try_upgrade(srv.port, bind='127.0.0.2')
        check(status == 429, f'the 3rd from 127.0.0.2 got {status}, want 429')
        raw.close()
        raw_close(mine.pop())
        wait_metric(srv.port, 'duplex_connections_open', lambda v: v == 3, 5, 'a closed connection was not released')
        # The scrape's own connection from 127.0.0.1 holds a slot until the server has seen it end.
        deadline = time.monotonic() + 5
        while True:
            status, raw = try_upgrade(srv.port)
            if status == 101 or time.monotonic() > deadline:
                break
            raw.close()
        check(status == 101, f'after one closed, 127.0.0.1 got {status}, want 101')
        mine.append(raw)
        for raw in mine + other:
            raw_close(raw)
        srv.stop()
    return '2 from 127.0.0.1, 3rd 429; 2 from 127.0.0.2 (client bound there), 3rd 429; after a close 101 again'


# ---------------------------------------------------------------- 5: heartbeats

async def case_heartbeat():
    # The timing rule itself is tested on virtual time (KeepAlive.* unit tests); here, over real sockets,
    # what follows from it: pings are at least 200 ms apart, so a client that answered 7 of them has been
    # there 1.2 s or more, past the 1 s idle timeout, and must still be open; one that never answers is
    # closed with 1001, never before 1 s.
    with Server('--ping-interval-ms', '200', '--idle-timeout-ms', '1000') as srv:
        def silent_raw():
            status, raw = try_upgrade(srv.port)
            check(status == 101, f'handshake got {status}')
            t0 = time.monotonic()
            pings = []
            try:
                for _ in range(100):
                    opcode, payload = raw.read_frame(10)
                    if opcode == 0x9:
                        pings.append(time.monotonic() - t0)
                        continue
                    check(opcode == 0x8, f'unexpected opcode {opcode}')
                    took = time.monotonic() - t0
                    code = int.from_bytes(payload[:2], 'big')
                    return pings, code, payload[2:].decode(), took
                raise Fail('too many frames')
            finally:
                raw.close()

        def answering_raw():
            status, raw = try_upgrade(srv.port)
            check(status == 101, f'handshake got {status}')
            try:
                for n in range(1, 8):
                    opcode, payload = raw.read_frame(10)
                    check(opcode == 0x9, f'the answering client got opcode {opcode} before its ping {n}')
                    raw.send(frame(0xA, payload))
                raw.send(frame(0x1, b'still here'))
                opcode, payload = raw.read_frame(10)
                check((opcode, payload) == (0x1, b'still here'), f'after 7 pongs: {opcode} {payload!r}, want the echo')
            finally:
                raw.close()

        loop = asyncio.get_running_loop()
        answered = loop.run_in_executor(None, answering_raw)
        pings, code, reason, took = await loop.run_in_executor(None, silent_raw)
        check(code == 1001, f'silent client closed with {code} {reason!r}, want 1001')
        check(reason == 'idle timeout', f'close reason {reason!r}')
        check(took >= 0.9, f'silent client closed after {took:.2f} s, before the 1 s idle timeout')
        check(len(pings) >= 2, f'silent client got {len(pings)} pings before its close, want >= 2')
        await answered
        srv.stop()
    return (f'silent raw client: {len(pings)} pings (first at {pings[0]:.2f} s), Close 1001 {reason!r} after '
            f'{took:.2f} s; a client that answered 7 pings (1.2 s or more) still echoes')


# ---------------------------------------------------------------- 6: healthz, metrics

FAMILIES = ('duplex_connections_open', 'duplex_connections_total', 'duplex_messages_received_total',
            'duplex_messages_sent_total', 'duplex_bytes_received_total', 'duplex_bytes_sent_total',
            'duplex_handshakes_failed_total', 'duplex_backpressure_drops_total', 'duplex_published_total')


async def case_metrics():
    with Server() as srv:
        status, headers, body = http_get(srv.port, '/healthz')
        check(status == 200 and body == b'ok\n', f'/healthz gave {status} {body!r}')
        m0 = metrics(srv.port)
        for fam in FAMILIES:
            check(fam in m0, f'{fam} missing from /metrics')
            check(m0[fam] == 0, f'{fam} is {m0[fam]} on a fresh server')
        check(any(k.startswith('duplex_closes_total{code=') for k in m0), 'no duplex_closes_total{code=...}')
        n_conn, n_msg, size = 3, 10, 100
        for c in range(n_conn):
            ws = await wsconnect(srv.port, '/echo')
            for i in range(n_msg):
                await ws.send('m' * size)
                check(await asyncio.wait_for(ws.recv(), 5) == 'm' * size, 'bad echo')
            await ws.close()
            check(ws.close_code == 1000, f'close code {ws.close_code}')
        # Two subscribers, one message published.
        s1 = await wsconnect(srv.port, '/pubsub/m')
        s2 = await wsconnect(srv.port, '/pubsub/m')
        await s1.send('hello')
        check(await asyncio.wait_for(s2.recv(), 5) == 'hello', 'pub/sub message lost')
        await s1.close(1001)
        await s2.close(4000)
        # One refused handshake (no Sec-WebSocket-Key).
        raw = Raw(srv.port)
        raw.send(b'GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'
                 b'Sec-WebSocket-Version: 13\r\n\r\n')
        status, _ = raw.read_http_head()
        raw.close()
        check(status == 400, f'upgrade without a key got {status}')
        wait_metric(srv.port, 'duplex_connections_open', lambda v: v == 0, 5, 'connections still open')
        m = metrics(srv.port)
        frame_in = size + 6  # masked, 7-bit length
        want = {
            'duplex_connections_open': 0,
            'duplex_connections_total': n_conn + 2,
            'duplex_messages_received_total': n_conn * n_msg + 1,
            'duplex_messages_sent_total': n_conn * n_msg + 1,
            'duplex_published_total': 1,
            'duplex_backpressure_drops_total': 0,
            'duplex_handshakes_failed_total': 1,
            'duplex_closes_total{code="1000"}': n_conn,
            'duplex_closes_total{code="1001"}': 1,
            'duplex_closes_total{code="other"}': 1,
        }
        bad = [f'{k} = {m.get(k)}, want {v}' for k, v in want.items() if m.get(k) != v]
        check(not bad, '; '.join(bad))
        # Bytes: at least the frames themselves (101 responses and Close frames come on top).
        check(m['duplex_bytes_received_total'] >= n_conn * n_msg * frame_in,
              f'bytes_received {m["duplex_bytes_received_total"]} < {n_conn * n_msg * frame_in}')
        check(m['duplex_bytes_sent_total'] >= n_conn * n_msg * (size + 2),
              f'bytes_sent {m["duplex_bytes_sent_total"]} < {n_conn * n_msg * (size + 2)}')
        srv.stop()
    return (f'/healthz 200 "ok"; {len(m)} samples parse; connections_total {int(m["duplex_connections_total"])}, '
            f'messages in/out {int(m["duplex_messages_received_total"])}/{int(m["duplex_messages_sent_total"])}, '
            f'closes 1000/1001/other {n_conn}/1/1, handshakes_failed 1, published 1')


# ---------------------------------------------------------------- 7: ports

def held_port(reuseport):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if reuseport:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    s.bind(('127.0.0.1', 0))
    s.listen(8)
    return s


def expect_usage_error(srv, what, mention=None):
    rc = srv.wait_exit(5)
    check(rc is not None, f'{what}: still running after 5 s')
    out = srv.stdout + srv.proc.stdout.read()  # it has exited: read to EOF
    err = srv.stderr()
    check(rc == 2, f'{what}: exit {rc}, want 2 (stderr {err!r})')
    check(b'listening' not in out, f'{what}: printed a listening line')
    lines = err.splitlines()
    check(len(lines) == 1 and lines[0].strip() and err.endswith('\n'), f'{what}: stderr is not one line: {err!r}')
    if mention:
        check(mention in lines[0], f'{what}: {lines[0]!r} does not mention {mention}')
    return lines[0]


def case_ports():
    seen = []
    for reuseport in (True, False):
        holder = held_port(reuseport)
        port = holder.getsockname()[1]
        try:
            for threads in ('2', '1'):
                with Server('--threads', threads, port=port, expect_listening=False) as srv:
                    line = expect_usage_error(srv, f'--threads {threads} on a port held '
                                              f'{"with" if reuseport else "without"} SO_REUSEPORT',
                                              f'127.0.0.1:{port}')
                    seen.append(line)
            # The holder still owns the port alone: a connection reaches it, not a duplex-server.
            c = socket.create_connection(('127.0.0.1', port), timeout=2)
            holder.settimeout(2)
            a, _ = holder.accept()
            a.close()
            c.close()
        finally:
            holder.close()
    with Server('--threads', '2') as srv:
        check(srv.port > 0, 'port 0 gave no port')
        for _ in range(4):
            status, raw = try_upgrade(srv.port)
            check(status == 101, f'--port 0 --threads 2: upgrade got {status}')
            raw.send(frame(0x1, b'hi'))
            check(raw.read_frame() == (0x1, b'hi'), 'no echo')
            raw_close(raw)
        srv.stop()
    return f'held port (SO_REUSEPORT or not, --threads 2 or 1): exit 2, e.g. {seen[0]!r}; --port 0 --threads 2 works'


# ---------------------------------------------------------------- 8: usage errors

def case_usage():
    seen = []
    for args, mention in ((['--bogus'], '--bogus'), (['--port', '70000'], '--port 70000: not a port number (0-65535)'),
                          (['--port', 'abc'], '--port abc: not a port number (0-65535)'), (['--threads', '0'], '--threads'),
                          (['--web', '/nonexistent'], '/nonexistent'),
                          (['--cert', '/nope.pem', '--key', '/nope.pem'], 'cannot load certificate /nope.pem: No such file or directory')):
        port = args[1] if args[0] == '--port' else 0
        proc_args = args if args[0] != '--port' else []
        with Server(*proc_args, port=port, expect_listening=False) as srv:
            line = expect_usage_error(srv, ' '.join(args), mention)
            check('error:' not in line, f'{" ".join(args)}: OpenSSL\'s error stack in {line!r}')
            seen.append(line)
    # A host name is looked up once at start: localhost serves on its address.
    with Server(host='localhost') as srv:
        check(srv.port, 'no port')
        seen.append(f'--host localhost listened on 127.0.0.1:{srv.port}')
    return '; '.join(seen)


# ---------------------------------------------------------------- driver

CASES = [
    ('pubsub', '1 pub/sub across 2 loops', case_pubsub),
    ('slow-drop', '2a slow consumer, --backpressure drop: RSS flat, drops counted', case_slow_drop),
    ('slow-close', '2b slow consumer, --backpressure close: RSS flat, closed', case_slow_close),
    ('shutdown', '3 SIGTERM drains every echo, then 1001', case_shutdown),
    ('shutdown-deadline', '3b SIGTERM with a client that does not read: exit at the drain timeout',
     case_shutdown_deadline),
    ('max-connections', '4a --max-connections 3 -> 503', case_max_connections),
    ('max-per-ip', '4b --max-connections-per-ip 2 -> 429', case_max_connections_per_ip),
    ('heartbeat', '5 pings and idle timeout', case_heartbeat),
    ('metrics', '6 /healthz and /metrics', case_metrics),
    ('ports', '7 held ports and --threads 2', case_ports),
    ('usage', '8 usage errors exit 2', case_usage),
]


def main():
    global EXE
    args = sys.argv[1:]
    EXE = args.pop(0) if args and os.sep in args[0] else os.environ.get('DUPLEX_SERVER')
    if not EXE or not os.access(EXE, os.X_OK):
        sys.exit('usage: server_features_test.py PATH/duplex-server [CASE...] (or set DUPLEX_SERVER)')
    unknown = set(args) - {c[0] for c in CASES}
    if unknown:
        sys.exit(f'unknown cases {sorted(unknown)}; cases: {" ".join(c[0] for c in CASES)}')

    def on_alarm(*_):
        print(f'FAIL watchdog: not finished after {WATCHDOG} s', flush=True)
        kill_all()
        os._exit(124)

    def on_term(sig, _):
        print(f'interrupted by signal {sig}', flush=True)
        kill_all()
        os._exit(128 + sig)

    signal.signal(signal.SIGALRM, on_alarm)
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    signal.alarm(WATCHDOG)
    passed = failed = 0
    t_all = time.monotonic()
    try:
        for key, name, fn in CASES:
            if args and key not in args:
                continue
            t0 = time.monotonic()
            try:
                detail = asyncio.run(fn()) if inspect.iscoroutinefunction(fn) else fn()
                print(f'ok   {name}: {detail} [{time.monotonic() - t0:.1f} s]', flush=True)
                passed += 1
            except Fail as e:
                print(f'FAIL {name}: {e} [{time.monotonic() - t0:.1f} s]', flush=True)
                failed += 1
            except Exception as e:  # noqa: BLE001  (a client library error is a failed case, not a crash)
                print(f'FAIL {name}: {type(e).__name__}: {e} [{time.monotonic() - t0:.1f} s]', flush=True)
                failed += 1
            finally:
                kill_all()
        print(f'{passed} passed, {failed} failed [{time.monotonic() - t_all:.1f} s]', flush=True)
        return 0 if failed == 0 and passed > 0 else 1
    finally:
        signal.alarm(0)
        kill_all()


if __name__ == '__main__':
    sys.exit(main())
