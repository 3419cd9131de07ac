#!/usr/bin/python3
"""redis_cluster_test.py: three duplex-server nodes share a topic through a
real redis-server.

    /usr/bin/python3 tests/interop/redis_cluster_test.py PATH/duplex-server

redis-server (Debian's) runs on a free loopback port with its own config in a
temporary directory; three duplex-servers (--redis) beside it; each in a
process group of its own, killed however the test ends (a watchdog, SIGALRM,
ends it after WATCHDOG seconds). Clients on different nodes: Python
`websockets` (Debian's python3-websockets) and Node `ws`. Two publishers
(Python on node A, Node on node B) send 5 000 messages each to /pubsub/load;
every subscriber on every node must get all 10 000 — each publisher's in
order, none twice, none lost — and each publisher the other's 5 000. Then
the nodes' metrics: 10 000 published through Redis, none dropped.
"""
import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

import websockets

WATCHDOG = 120
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


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def redis_cli(port, *args):
    return subprocess.run(['redis-cli', '-p', str(port), *args], capture_output=True, text=True, timeout=10).stdout


def wait_for(cond, seconds, what):
    end = time.time() + seconds
    while time.time() < end:
        if cond():
            return
        time.sleep(0.02)
    raise AssertionError(f'timed out waiting for {what}')


def start_node(exe, redis_url):
    p = spawn([exe, '--host', '127.0.0.1', '--port', '0', '--redis', redis_url, '--max-connections-per-ip', '0'],
              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    line = p.stdout.readline().decode().strip()
    m = re.fullmatch(r'listening on http://127\.0\.0\.1:(\d+)', line)
    assert m, f'duplex-server printed {line!r}'
    return int(m.group(1))


def metrics(port):
    import urllib.request
    text = urllib.request.urlopen(f'http://127.0.0.1:{port}/metrics', timeout=5).read().decode()
    return {k: float(v) for k, v in re.findall(r'^(duplex_redis_\w+) (\S+)$', text, re.M)}


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


async def run(exe):
    work = tempfile.mkdtemp(prefix='duplex-redis-cluster.')
    rport = free_port()
    with open(f'{work}/redis.conf', 'w') as f:
        f.write(f'port {rport}\nbind 127.0.0.1\nsave ""\nappendonly no\ndir {work}\nlogfile {work}/redis.log\n')
    spawn(['redis-server', f'{work}/redis.conf'], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: redis_cli(rport, 'PING').strip() == 'PONG', 10, 'redis-server')
    url = f'redis://127.0.0.1:{rport}'
    a, b, c = (start_node(exe, url) for _ in range(3))
    for port in (a, b, c):
        wait_for(lambda: 'redis: up' in healthz(port), 10, f'node {port} to reach Redis')
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
    wait_for(lambda: redis_cli(rport, 'PUBSUB', 'NUMSUB', f'duplex:topic:{topic}').split()[-1:] == ['3'], 10,
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


def main():
    exe = sys.argv[1] if len(sys.argv) > 1 else os.environ.get('DUPLEX_SERVER')
    signal.signal(signal.SIGALRM, watchdog)
    signal.signal(signal.SIGTERM, lambda *_: (kill_all(), os._exit(1)))
    signal.alarm(WATCHDOG)
    try:
        ok = asyncio.run(run(exe))
    except Exception as e:  # noqa: BLE001 - any failure is the test's failure, said plainly
        print(f'FAIL: {type(e).__name__}: {e}')
        ok = False
    finally:
        kill_all()
    print('passed' if ok else 'failed')
    sys.exit(0 if ok else 1)


if __name__ == '__main__':
    main()
