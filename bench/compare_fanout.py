#!/usr/bin/python3
"""Pub/sub fan-out on one node: duplex-server against a uWebSockets pub/sub
server, the same `duplex-bench fanout` load, servers alternating within each
round; prints medians of deliveries per second, delivery latency and the
server's CPU per delivery, and duplex / uWebSockets.

  bench/compare_fanout.py --build build [--rounds 3] [--duration 5] [--loads 1000x400,1000x1000]

A load SUBSxRATE is SUBS subscribers of one topic and one publisher sending
RATE messages/s of 16 bytes (deliveries offered: SUBS x RATE). The server is
pinned to CPU 0 and runs one loop; the load generator to CPU 1.

uWebSockets is built outside the repository from the public
uNetworking/uWebSockets and uSockets sources: a small server whose /pubsub/*
connections subscribe to the rest of the path and publish what they receive
to it (the sender excluded, as duplex-server's /pubsub/ route does). Found at
$UWS_PUBSUB (default /opt/uws/pubsub_server); skipped with a note if absent.
"""
import argparse
import json
import os
import re
import select
import signal
import statistics
import subprocess
import time

LOADS = {'500x200': (500, 200), '1000x400': (1000, 400), '1000x1000': (1000, 1000)}


def start(cmd):
    p = subprocess.Popen(['taskset', '-c', '0'] + cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         start_new_session=True)
    deadline = time.time() + 10
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
    raise RuntimeError(f'{cmd[0]} did not start: {line!r}')


def stop(p):
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    p.wait()


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def bench(build, port, load, duration, pid):
    subs, rate = LOADS[load]
    cmd = ['taskset', '-c', '1', f'{build}/apps/duplex-bench', 'fanout', f'ws://127.0.0.1:{port}/pubsub/bench',
           '--connections', str(subs + 1), '--publishers', '1', '--rate', str(rate), '--duration', str(duration),
           '--json', '--server-pid', str(pid)]
    out = subprocess.run(cmd, capture_output=True, timeout=duration + 60)
    lines = out.stdout.decode().strip().splitlines()
    return json.loads(lines[-1]) if lines else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--build', default='build')
    ap.add_argument('--rounds', type=int, default=3)
    ap.add_argument('--duration', type=float, default=5)
    ap.add_argument('--loads', default=','.join(LOADS))
    a = ap.parse_args()
    servers = {
        'duplex': [f'{a.build}/apps/duplex-server', '--host', '127.0.0.1', '--port', '{port}', '--threads', '1',
                   '--max-connections-per-ip', '0'],
        'uws': [os.environ.get('UWS_PUBSUB', '/opt/uws/pubsub_server'), '{port}'],
    }
    for s in list(servers):
        if not os.path.exists(servers[s][0]):
            print(f'# {s}: not available ({servers[s][0]}), skipped')
            del servers[s]
    loads = a.loads.split(',')
    results = {(s, l): [] for s in servers for l in loads}
    for _ in range(a.rounds):
        for load in loads:
            for s, cmd in servers.items():
                port = free_port()
                p, port = start([c.replace('{port}', str(port)) for c in cmd])
                try:
                    res = bench(a.build, port, load, a.duration, p.pid)
                finally:
                    stop(p)
                if res and res['errors'] == 0:
                    results[(s, load)].append(res)

    def med(s, load, f):
        rs = results[(s, load)]
        return statistics.median(f(r) for r in rs) if rs else float('nan')

    rate = lambda r: r['messages_per_second']
    # CPU per delivery: the server's share of a core over the deliveries it made.
    cpu = lambda r: r['server']['cpu_percent'] / 100 * 1e6 / max(r['messages_per_second'], 1)
    print('| load (subscribers x msg/s) | offered/s | duplex deliveries/s | uWS deliveries/s | duplex / uWS | '
          'p50 ms duplex, uWS | p99 ms duplex, uWS | server CPU us/delivery duplex, uWS |')
    print('|---|---|---|---|---|---|---|---|')
    for load in loads:
        subs, r = LOADS[load]
        d, u = med('duplex', load, rate), med('uws', load, rate)
        p50 = lambda s: med(s, load, lambda x: x['latency_us']['p50'] / 1000)
        p99 = lambda s: med(s, load, lambda x: x['latency_us']['p99'] / 1000)
        print(f'| {load} | {subs * r} | {d:.0f} | {u:.0f} | **{d / u:.2f}** | {p50("duplex"):.1f}, {p50("uws"):.1f} | '
              f'{p99("duplex"):.1f}, {p99("uws"):.1f} | {med("duplex", load, cpu):.2f}, {med("uws", load, cpu):.2f} |')


if __name__ == '__main__':
    main()
