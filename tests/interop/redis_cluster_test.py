#!/usr/bin/python3
"""redis_cluster_test.py: duplex-server nodes that share topics through a real
redis-server (docs/scaling.md).

    /usr/bin/python3 tests/interop/redis_cluster_test.py PATH/duplex-server [CASE...]

Cases (all by default):
  fanout     three nodes; Python `websockets` and Node `ws` clients on different
             nodes; two publishers (Python on A, Node on B) send 5 000 messages
             each: every subscriber on every node gets all 10 000, each
             publisher's in order, none twice, none lost; 10 000 published
             through Redis, none dropped.
  kill       two nodes with --history; a client with offsets on A; A killed
             with SIGKILL while B publishes; the client reconnects to B with
             since= its last offset and gets exactly what it missed.
  outage     two nodes; Redis stopped for 10 s under publish load on A, then
             started again: A's local subscriber got every message (local
             delivery went on), B's got each at most once and in order and
             gets messages again within 5 s of Redis returning; no node
             crashed and their memory stayed bounded.
  pause      two nodes with --history; Redis stopped (SIGSTOP: frozen, its data
             kept) for 10 s under publish load on A, then resumed: A's local
             subscriber got every message at once; B's subscriber with offsets
             ends with every offset Redis gave, none twice, in order (the hole
             filled from the history).
  bad-input  a topic name with every odd byte (percent-escaped in the URL) and
             a 10 MB message over --max-message-size: the odd topic crosses
             nodes, the big message is refused with 1009; nothing crashes.

redis-server (Debian's) runs on a Unix socket in a temporary directory with
its own config; the duplex-servers on 127.0.0.1 beside it; each in a process
group of its own, killed however the test ends (a watchdog, SIGALRM, ends it
after WATCHDOG seconds).
"""
import asyncio
import json
import os
import re
import signal
import urllib.parse
import subprocess
import sys
import tempfile
import time

import websockets

WATCHDOG = 240
PER_PUBLISHER = 5000
HERE = os.path.dirname(os.path.abspath(__file__))
LIVE = []


def kill_all(*_):
    for p in LIVE:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for p in LIVE:
        p.wait()


def watchdog(*_):
    print(f'FAIL: watchdog: still running after {WATCHDOG} s')
    kill_all()
    os._exit(1)


def spawn(argv, **kw):
    p = subprocess.Popen(argv, start_new_session=True, **kw)
    LIVE.append(p)
    return p


def wait_for(cond, seconds, what):
    end = time.time() + seconds
    while time.time() < end:
        if cond():
            return
        time.sleep(0.02)
    raise AssertionError(f'timed out waiting for {what}')


def start_node(exe, redis_url, *extra):
    """A node (port, Popen), once it listens and reaches Redis."""
    p = spawn([exe, '--host', '127.0.0.1', '--port', '0', '--redis', redis_url, '--max-connections-per-ip', '0', *extra],
              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    line = p.stdout.readline().decode().strip()
    m = re.fullmatch(r'listening on http://127\.0\.0\.1:(\d+)', line)
    assert m, f'duplex-server printed {line!r}'
    port = int(m.group(1))
    wait_for(lambda: 'redis: up' in healthz(port), 10, f'node {port} to reach Redis')
    return port, p


def metrics(port):
    import urllib.request
    text = urllib.request.urlopen(f'http://127.0.0.1:{port}/metrics', timeout=5).read().decode()
    return {k: float(v) for k, v in re.findall(r'^(duplex_(?:redis|history)_\w+) (\S+)$', text, re.M)}


def healthz(port):
    import urllib.request
    return urllib.request.urlopen(f'http://127.0.0.1:{port}/healthz', timeout=5).read().decode()


class Tally:
    """Every publisher's messages in order, none twice."""

    def __init__(self):
        self.next = {}
        self.received = self.bad = self.out_of_order = 0

    def add(self, text):
        m = re.fullmatch(r'([a-z]+):(\d+)', text)
        if not m:
            self.bad += 1
            return
        want = self.next.get(m[1], 0)
        if int(m[2]) != want:
            self.out_of_order += 1
        self.next[m[1]] = int(m[2]) + 1
        self.received += 1

    def summary(self):
        return {'received': self.received, 'bad': self.bad, 'out_of_order': self.out_of_order}


async def py_client(url, expect, ready, go, send=0, prefix='p'):
    tally = Tally()
    async with websockets.connect(url, max_size=None) as ws:
        ready.set()
        await go.wait()
        for i in range(send):
            await ws.send(f'{prefix}:{i}')
        try:
            while tally.received < expect:
                tally.add(await asyncio.wait_for(ws.recv(), 30))
        except asyncio.TimeoutError:
            pass
    return tally.summary()


class Redis:
    """redis-server on a Unix socket in its own directory; stop() kills it, start() brings it back (empty)."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix='duplex-redis-cluster.')
        self.sock = f'{self.dir}/redis.sock'
        self.url = f'unix://{self.sock}'
        self.proc = None
        self.start()

    def start(self):
        with open(f'{self.dir}/redis.conf', 'w') as f:
            f.write(f'port 0\nunixsocket {self.sock}\nsave ""\nappendonly no\ndir {self.dir}\nlogfile {self.dir}/redis.log\n')
        self.proc = spawn(['redis-server', f'{self.dir}/redis.conf'], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: self.cli('PING').strip() == 'PONG', 10, 'redis-server')

    def stop(self):
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def cli(self, *args):
        return subprocess.run(['redis-cli', '-s', self.sock, *args], capture_output=True, text=True, timeout=10).stdout


def rss_kib(pid):
    with open(f'/proc/{pid}/status') as f:
        return int(re.search(r'VmRSS:\s+(\d+)', f.read())[1])


async def case_fanout(exe):
    redis = Redis()
    url = redis.url
    a, b, c = (start_node(exe, url)[0] for _ in range(3))
    topic = 'load'
    total = 2 * PER_PUBLISHER
    go = asyncio.Event()
    # Node ws clients: a publisher on B, a subscriber on B and one on C.
    node = ['node', os.path.join(HERE, 'node_ws_pubsub.js')]
    node_pub = spawn(node + [f'ws://127.0.0.1:{b}/pubsub/{topic}', '--expect', str(PER_PUBLISHER), '--send',
                             str(PER_PUBLISHER), '--prefix', 'b'], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    node_subs = [spawn(node + [f'ws://127.0.0.1:{port}/pubsub/{topic}', '--expect', str(total)],
                       stdin=subprocess.PIPE, stdout=subprocess.PIPE) for port in (b, c)]
    for p in [node_pub] + node_subs:
        line = p.stdout.readline().decode().strip()
        assert line == 'ready', f'node client said {line!r}'
    # Python clients: the other publisher on A, subscribers on A and C.
    readies = [asyncio.Event() for _ in range(3)]
    tasks = [asyncio.create_task(py_client(f'ws://127.0.0.1:{a}/pubsub/{topic}', PER_PUBLISHER, readies[0], go,
                                           PER_PUBLISHER, 'a')),
             asyncio.create_task(py_client(f'ws://127.0.0.1:{a}/pubsub/{topic}', total, readies[1], go)),
             asyncio.create_task(py_client(f'ws://127.0.0.1:{c}/pubsub/{topic}', total, readies[2], go))]
    for r in readies:
        await asyncio.wait_for(r.wait(), 10)
    # Each node subscribed once to the topic's channel (not once per client).
    wait_for(lambda: redis.cli('PUBSUB', 'NUMSUB', f'duplex:topic:{topic}').split()[-1:] == ['3'], 10,
             'three node subscriptions')
    go.set()
    node_pub.stdin.write(b'go\n')
    node_pub.stdin.flush()
    results = {}
    for name, t in zip(('py-publisher@A', 'py@A', 'py@C'), tasks):
        results[name] = await t
    loop = asyncio.get_running_loop()
    for name, p in zip(('node-publisher@B', 'node@B', 'node@C'), [node_pub] + node_subs):
        line = await loop.run_in_executor(None, p.stdout.readline)
        results[name] = json.loads(line)
    failed = False
    for name, r in results.items():
        want = PER_PUBLISHER if 'publisher' in name else total
        ok = r.get('received') == want and r.get('bad') == 0 and r.get('out_of_order') == 0
        failed |= not ok
        print(f'{"ok  " if ok else "FAIL"} {name}: {r} (want {want})')
    m = [metrics(p) for p in (a, b, c)]
    published = sum(x.get('duplex_redis_published_total', 0) for x in m)
    dropped = sum(x.get('duplex_redis_dropped_total', 0) for x in m)
    ok = published == total and dropped == 0
    failed |= not ok
    print(f'{"ok  " if ok else "FAIL"} metrics: published through Redis {published:.0f} (want {total}), dropped {dropped:.0f}')
    return not failed


async def read_offsets(ws, until, seconds=20):
    """Offsets of "N payload" messages until `until` (or silence); other messages apart."""
    got, said = [], []
    try:
        while not got or got[-1] < until:
            m = await asyncio.wait_for(ws.recv(), seconds)
            head, _, _ = m.partition(' ')
            if head.isdigit():
                got.append(int(head))
            else:
                said.append(m)
    except (asyncio.TimeoutError, websockets.ConnectionClosed):
        pass
    return got, said


def check(ok, what):
    print(f'{"ok  " if ok else "FAIL"} {what}')
    return ok


async def case_kill(exe):
    """A node killed with SIGKILL; its client reconnects to the other with since= and misses nothing."""
    redis = Redis()
    (a, pa), (b, _) = start_node(exe, redis.url, '--history', '100000'), start_node(exe, redis.url, '--history', '100000')
    total = 4000
    sub = await websockets.connect(f'ws://127.0.0.1:{a}/pubsub/k?offsets=1', max_size=None)
    pub = await websockets.connect(f'ws://127.0.0.1:{b}/pubsub/k', max_size=None)
    wait_for(lambda: redis.cli('PUBSUB', 'NUMSUB', 'duplex:topic:k').split()[-1:] == ['2'], 10, 'both nodes subscribed')
    for i in range(1, 1001):
        await pub.send(f'm{i}')
    got, _ = await read_offsets(sub, 1000)
    ok = check(got == list(range(1, 1001)), f'before the kill: offsets 1..1000 on node A ({len(got)} received)')
    pa.kill()  # SIGKILL: no close, no goodbye
    # B goes on publishing while the client finds out and comes back elsewhere.
    async def send_rest():
        for i in range(1001, total + 1):
            await pub.send(f'm{i}')

    sender = asyncio.create_task(send_rest())
    try:
        await asyncio.wait_for(sub.recv(), 10)
    except websockets.ConnectionClosed:
        pass
    again = await websockets.connect(f'ws://127.0.0.1:{b}/pubsub/k?since={got[-1]}', max_size=None)
    await sender
    rest, said = await read_offsets(again, total)
    ok &= check(rest == list(range(got[-1] + 1, total + 1)) and not said,
                f'reconnected to node B with since={got[-1]}: offsets {rest[:1]}..{rest[-1:]} ({len(rest)}), '
                f'exactly {total - got[-1]} missed, none twice (said {said})')
    await again.close()
    await pub.close()
    return ok


async def case_outage(exe):
    """Redis stopped for 10 s under publish load, then started again."""
    redis = Redis()
    (a, pa), (b, pb) = start_node(exe, redis.url), start_node(exe, redis.url)
    local = await websockets.connect(f'ws://127.0.0.1:{a}/pubsub/o', max_size=None)
    remote = await websockets.connect(f'ws://127.0.0.1:{b}/pubsub/o', max_size=None)
    pub = await websockets.connect(f'ws://127.0.0.1:{a}/pubsub/o', max_size=None)
    wait_for(lambda: redis.cli('PUBSUB', 'NUMSUB', 'duplex:topic:o').split()[-1:] == ['2'], 10, 'both subscriptions')
    rss0 = (rss_kib(pa.pid), rss_kib(pb.pid))
    received = {'local': [], 'remote': []}
    arrival = {}  # remote: message number -> time it arrived

    async def reader(ws, name):
        try:
            while True:
                n = int((await ws.recv())[1:])
                received[name].append(n)
                if name == 'remote':
                    arrival[n] = time.monotonic()
        except websockets.ConnectionClosed:
            pass

    readers = [asyncio.create_task(reader(local, 'local')), asyncio.create_task(reader(remote, 'remote'))]
    n = 0
    events = {}

    async def publish_for(seconds, rate=500):
        nonlocal n
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            n += 1
            await pub.send(f'm{n}')
            await asyncio.sleep(1 / rate)  # the load's pace, not a synchronisation

    await publish_for(2)
    events['down'] = n
    redis.stop()
    await publish_for(10)
    events['up_at'] = n
    redis.start()
    t_up = time.monotonic()
    await publish_for(8)
    total = n
    await asyncio.sleep(0)
    wait_for(lambda: len(received['local']) == total, 10, 'the local subscriber')
    for t in readers:
        t.cancel()
    ok = check(received['local'] == list(range(1, total + 1)),
               f'local delivery went on: node A\'s subscriber got all {total}, in order ({len(received["local"])})')
    r = received['remote']
    ok &= check(all(x < y for x, y in zip(r, r[1:])), f'node B\'s subscriber: each at most once, in order ({len(r)} of {total})')
    ok &= check(set(range(1, events['down'] + 1)) <= set(r), f'node B got everything before the outage (1..{events["down"]})')
    after = [x for x in r if x > events['up_at']]
    first_after = min((arrival[x] for x in after), default=None)
    ok &= check(first_after is not None and first_after - t_up < 5,
                f'cross-node delivery resumed {first_after - t_up if first_after else float("nan"):.2f} s after Redis returned (< 5 s)')
    tail = [x for x in r if x > total - 500]
    ok &= check(tail == list(range(total - 499, total + 1)), 'the last 500 (well after the return) all reached node B')
    rss1 = (rss_kib(pa.pid), rss_kib(pb.pid))
    ok &= check(pa.poll() is None and pb.poll() is None, 'both nodes still running')
    ok &= check(all(r1 - r0 < 64 * 1024 for r0, r1 in zip(rss0, rss1)), f'memory bounded: RSS {rss0} -> {rss1} KiB')
    m = metrics(a)
    ok &= check(m.get('duplex_redis_reconnects_total', 0) >= 1, f'node A reconnected ({m.get("duplex_redis_reconnects_total")})')
    for ws in (local, remote, pub):
        await ws.close()
    return ok


async def case_pause(exe):
    """Redis frozen for 10 s under load, with history: nothing numbered is lost for a client with offsets."""
    redis = Redis()
    (a, pa), (b, pb) = (start_node(exe, redis.url, '--history', '100000') for _ in range(2))
    local = await websockets.connect(f'ws://127.0.0.1:{a}/pubsub/p', max_size=None)
    remote = await websockets.connect(f'ws://127.0.0.1:{b}/pubsub/p?offsets=1', max_size=None)
    pub = await websockets.connect(f'ws://127.0.0.1:{a}/pubsub/p', max_size=None)
    wait_for(lambda: redis.cli('PUBSUB', 'NUMSUB', 'duplex:topic:p').split()[-1:] == ['2'], 10, 'both subscriptions')
    got_local, got_remote = [], []

    async def read_local():
        try:
            while True:
                got_local.append(int((await local.recv())[1:]))
        except websockets.ConnectionClosed:
            pass

    async def read_remote():
        try:
            while True:
                head, _, _ = (await remote.recv()).partition(' ')
                if head.isdigit():
                    got_remote.append(int(head))
        except websockets.ConnectionClosed:
            pass

    readers = [asyncio.create_task(read_local()), asyncio.create_task(read_remote())]
    n = 0

    async def publish_for(seconds, rate=300):
        nonlocal n
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            n += 1
            await pub.send(f'm{n}')
            await asyncio.sleep(1 / rate)  # the load's pace

    await publish_for(2)
    os.killpg(redis.proc.pid, signal.SIGSTOP)
    try:
        await publish_for(10)
    finally:
        os.killpg(redis.proc.pid, signal.SIGCONT)
    await publish_for(5)
    total = n
    # Every message Redis numbered (all of them, unless the queue bound dropped some) reaches B's client.
    wait_for(lambda: redis.cli('HGET', 'duplex:offset:p', 'n').strip() == str(total), 20, f'Redis to number all {total}')
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and (not got_remote or got_remote[-1] < total):
        await asyncio.sleep(0.05)  # polling the readers' progress, bounded
    for t in readers:
        t.cancel()
    ok = check(got_local == list(range(1, total + 1)), f'node A\'s local subscriber got all {total} at once, in order')
    ok &= check(got_remote == list(range(1, total + 1)),
                f'node B\'s subscriber with offsets: offsets 1..{total}, none missing, none twice '
                f'({len(got_remote)} received, last {got_remote[-1:]})')
    m = metrics(b)
    ok &= check(pa.poll() is None and pb.poll() is None, 'both nodes still running')
    print(f'     node B: reconnects {m.get("duplex_redis_reconnects_total")}, history recoveries '
          f'{m.get("duplex_history_recoveries_total")}, gaps {m.get("duplex_history_gaps_total")}')
    for ws in (local, remote, pub):
        await ws.close()
    return ok


async def case_bad_input(exe):
    """Odd topic names cross nodes; a message over --max-message-size is refused with 1009."""
    redis = Redis()
    (a, pa), (b, pb) = (start_node(exe, redis.url, '--max-message-size', str(1 << 20)) for _ in range(2))
    odd = ''.join(chr(c) for c in range(1, 128) if chr(c) not in '?#') + '\u00e9\u2603'
    path = '/pubsub/' + urllib.parse.quote(odd, safe='')
    sub = await websockets.connect(f'ws://127.0.0.1:{b}{path}', max_size=None)
    pub = await websockets.connect(f'ws://127.0.0.1:{a}{path}', max_size=None)
    wait_for(lambda: int(metrics(b).get('duplex_redis_up', 0)) == 1, 5, 'B up')
    ok = True
    # The node subscribes under the name as the server saw it; wait until a message crosses.
    for attempt in range(100):
        await pub.send(f'odd {attempt}')
        try:
            got = await asyncio.wait_for(sub.recv(), 0.1)
            ok &= check(got.startswith('odd '), f'a topic with every odd byte crosses nodes ({got!r})')
            break
        except asyncio.TimeoutError:
            continue
    else:
        ok &= check(False, 'a topic with every odd byte crosses nodes')
    big = await websockets.connect(f'ws://127.0.0.1:{a}/pubsub/big', max_size=None)
    await big.send(b'x' * (10 * 1024 * 1024))
    try:
        await asyncio.wait_for(big.recv(), 10)
        code = None
    except websockets.ConnectionClosed as e:
        code = e.rcvd.code if e.rcvd else None
    ok &= check(code == 1009, f'a 10 MB message over --max-message-size: closed with {code} (1009)')
    ok &= check(pa.poll() is None and pb.poll() is None and 'redis: up' in healthz(a), 'nodes running, A still up on Redis')
    for ws in (sub, pub):
        await ws.close()
    return ok


CASES = {'fanout': case_fanout, 'kill': case_kill, 'outage': case_outage, 'pause': case_pause, 'bad-input': case_bad_input}


def main():
    exe = sys.argv[1] if len(sys.argv) > 1 else os.environ.get('DUPLEX_SERVER')
    names = sys.argv[2:] or list(CASES)
    signal.signal(signal.SIGALRM, watchdog)
    signal.signal(signal.SIGTERM, lambda *_: (kill_all(), os._exit(1)))
    signal.alarm(WATCHDOG)
    failed = []
    for name in names:
        print(f'--- {name}')
        try:
            ok = asyncio.run(CASES[name](exe))
        except Exception as e:  # noqa: BLE001 - any failure is the case's failure, said plainly
            print(f'FAIL {name}: {type(e).__name__}: {e}')
            ok = False
        finally:
            kill_all()
            LIVE.clear()
        if not ok:
            failed.append(name)
    print('passed' if not failed else f'failed: {", ".join(failed)}')
    sys.exit(0 if not failed else 1)


if __name__ == '__main__':
    main()
