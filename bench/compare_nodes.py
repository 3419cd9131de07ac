#!/usr/bin/python3
"""Pub/sub across two nodes through Redis: two duplex-servers (--redis) against
two Socket.IO servers with @socket.io/redis-adapter, on the same redis-server
and the same load, alternating within each round; prints medians of
deliveries per second and of the delivery latency (p50, p99) across nodes,
and duplex / Socket.IO.

  (cd bench/socketio && npm install)       # once: the baseline's packages
  bench/compare_nodes.py --build build [--rounds 3] [--duration 5] [--loads 100x1000,400x2000]

A load SUBSxRATE: SUBS subscribers on node B, one publisher on node A sending
RATE messages/s; every message crosses Redis once (deliveries offered: SUBS x
RATE). duplex: /pubsub/bench, binary 16-byte messages; Socket.IO: events
`42["m","<send time>"]` (duplex-bench --socketio), broadcast to every other
socket. Each node is one process with one event loop (duplex-server
--threads 1; Node is single-threaded). Node B, which does the fan-out, has
CPU 1 to itself; node A (one message in, one PUBLISH out), redis-server and
the load generator share CPU 0; the same for both. redis-server runs on a Unix
socket in a temporary directory, started and stopped by the script.
"""
import argparse
import json
import os
import re
import select
import signal
import statistics
import subprocess
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
LOADS = {'100x1000': (100, 1000), '1000x1000': (1000, 1000), '2000x1000': (2000, 1000)}


def start(cmd, cpu):
    p = subprocess.Popen(['taskset', '-c', str(cpu)] + cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         start_new_session=True)
    deadline = time.time() + 15
    line = ''
    while time.time() < deadline:
        ready, _, _ = select.select([p.stdout], [], [], max(0.0, deadline - time.time()))
        if not ready:
            break
        line = p.stdout.readline().decode()
        m = re.search(r'[Ll]istening on (?:https?://[^:]+:|port )(\d+)', line)
        if m:
            return p, int(m.group(1))
        if p.poll() is not None:
            break
    stop(p)
    raise RuntimeError(f'{cmd} did not start: {line!r}')


def stop(p):
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    p.wait()


def cpu_seconds(pid):
    """utime + stime of a process so far."""
    with open(f'/proc/{pid}/stat') as f:
        fields = f.read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def start_redis(work):
    sock = f'{work}/redis.sock'
    if os.path.exists(sock):
        os.unlink(sock)
    p = subprocess.Popen(['taskset', '-c', '0', 'redis-server', '--port', '0', '--unixsocket', sock, '--save', '',
                          '--appendonly', 'no', '--dir', work], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         start_new_session=True)
    deadline = time.time() + 10
    while time.time() < deadline:
        line = p.stdout.readline().decode()
        if 'ready to accept connections' in line.lower():
            return p, f'unix://{sock}'
    stop(p)
    raise RuntimeError('redis-server did not start')


def run_one(build, which, load, duration, work):
    subs, rate = LOADS[load]
    redis, url = start_redis(work)
    nodes = []
    try:
        if which == 'duplex':
            cmd = [f'{build}/apps/duplex-server', '--host', '127.0.0.1', '--port', '0', '--threads', '1',
                   '--max-connections-per-ip', '0', '--redis', url]
            path, extra = '/pubsub/bench', []
        else:
            cmd = ['node', f'{HERE}/socketio/server.js', '0', url]
            path, extra = '/socket.io/?EIO=4&transport=websocket', ['--socketio']
        a, pa = start(cmd, 0)
        nodes.append(a)
        b, pb = start(cmd, 1)
        nodes.append(b)
        if which == 'duplex':  # both nodes on Redis (Socket.IO's server.js listens only once it is)
            import urllib.request
            for port in (pa, pb):
                deadline = time.time() + 10
                while b'redis: up' not in urllib.request.urlopen(f'http://127.0.0.1:{port}/healthz').read():
                    if time.time() > deadline:
                        raise RuntimeError(f'duplex-server on {port} did not reach Redis')
                    time.sleep(0.02)
        cpu0 = (cpu_seconds(a.pid), cpu_seconds(b.pid))
        out = subprocess.run(['taskset', '-c', '0', f'{build}/apps/duplex-bench', 'fanout', f'ws://127.0.0.1:{pb}{path}',
                              '--publish-url', f'ws://127.0.0.1:{pa}{path}', '--connections', str(subs + 1),
                              '--publishers', '1', '--rate', str(rate), '--duration', str(duration), '--json', *extra],
                             capture_output=True, timeout=duration + 60)
        lines = out.stdout.decode().strip().splitlines()
        if not lines:
            return None
        r = json.loads(lines[-1])
        # CPU per delivery of each node over the run (connections included: the same for both).
        r['cpu_a'] = cpu_seconds(a.pid) - cpu0[0]
        r['cpu_b'] = cpu_seconds(b.pid) - cpu0[1]
        return r
    finally:
        for p in nodes:
            stop(p)
        stop(redis)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--build', default='build')
    ap.add_argument('--rounds', type=int, default=3)
    ap.add_argument('--duration', type=float, default=5)
    ap.add_argument('--loads', default=','.join(LOADS))
    a = ap.parse_args()
    if not os.path.isdir(f'{HERE}/socketio/node_modules'):
        raise SystemExit('the Socket.IO baseline is not installed: (cd bench/socketio && npm install)')
    work = tempfile.mkdtemp(prefix='duplex-compare-nodes.')
    loads = a.loads.split(',')
    results = {(s, l): [] for s in ('duplex', 'socketio') for l in loads}
    for _ in range(a.rounds):
        for load in loads:
            for which in ('duplex', 'socketio'):
                r = run_one(a.build, which, load, a.duration, work)
                if r and r['errors'] == 0:
                    results[(which, load)].append(r)
                else:
                    print(f'# {which} {load}: errors {r and r["errors"]}')

    def med(which, load, f):
        rs = results[(which, load)]
        return statistics.median(f(r) for r in rs) if rs else float('nan')

    print('| load (subscribers on B x msg/s published on A) | offered/s | duplex deliveries/s | Socket.IO deliveries/s | '
          'duplex / Socket.IO | p50 ms duplex, Socket.IO | p99 ms duplex, Socket.IO | node B CPU us per delivery, duplex, Socket.IO |')
    print('|---|---|---|---|---|---|---|---|')
    for load in loads:
        subs, rate = LOADS[load]
        d = med('duplex', load, lambda r: r['messages_per_second'])
        s = med('socketio', load, lambda r: r['messages_per_second'])
        p = lambda w, q: med(w, load, lambda r: r['latency_us'][q] / 1000)
        cpu = lambda w: med(w, load, lambda r: r['cpu_b'] * 1e6 / max(r['messages'], 1))
        print(f'| {load} | {subs * rate} | {d:.0f} | {s:.0f} | **{d / s:.1f}** | {p("duplex", "p50"):.2f}, {p("socketio", "p50"):.2f} | '
              f'{p("duplex", "p99"):.2f}, {p("socketio", "p99"):.2f} | {cpu("duplex"):.2f}, {cpu("socketio"):.2f} |')


if __name__ == '__main__':
    main()
