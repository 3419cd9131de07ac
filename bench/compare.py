#!/usr/bin/env python3
"""Runs the same duplex-bench loads against several WebSocket servers, side by
side, alternating servers over several rounds, and prints each figure as a
median and as a ratio to duplex-server (ratios, not absolute numbers, are what
we keep: docs/performance.md).

    bench/compare.py --build build [--rounds 3] [--duration 3] [--loads all]

Loads: 1x16B, 100x16B, 100x16B-depth16 (16 messages in flight per
connection), 1000x16B, 100x16KiB (messages/s), and 10000-idle and
10000-used-idle (each connection echoes one message first): the server's
private memory per held connection, bytes.

Servers (each skipped, with a note, when it is not available):
    duplex       build/apps/duplex-server --threads 1
    epoll-echo   build/bench/epoll_echo (raw TCP, no framing: the floor)
    uws          $UWS_ECHO (default /opt/uws/echo_server), built outside the repo
    node-ws      node $NODE_WS_ECHO (default /opt/bench-peers/ws_echo.js)
    py-websockets /usr/bin/python3 $PY_ECHO (default /opt/bench-peers/py_echo.py)

The server is pinned to CPU 0 and the load generator to CPU 1 (taskset), so
that the server, not the generator, is what is measured. Every process
started is killed at the end, whatever happens.
"""
import argparse, json, os, re, select, signal, statistics, subprocess, sys, time

LOADS = {
    # name: (connections, size, depth, extra args)
    '1x16B': (1, 16, 1, []),
    '100x16B': (100, 16, 1, []),
    '100x16B-depth16': (100, 16, 16, []),
    '1000x16B': (1000, 16, 1, []),
    '100x16KiB': (100, 16384, 1, []),
    # Memory, not speed: 10 000 connections held open; the server's RSS
    # growth per connection (user space; the kernel's socket buffers are not
    # in RSS). Lower is better.
    '10000-idle': (10000, 0, 1, []),
    # The same after one echo each: what a connection keeps once it has talked.
    '10000-used-idle': (10000, 0, 1, ['--warm', '1']),
}
IDLE_SECONDS = 15  # enough for every server here (Python's too) to finish 10 000 handshakes


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def start(cmd, env=None):
    # Some servers print the port they were given, not the one they got: give them a free one.
    cmd = [str(free_port()) if c == '{port}' else c for c in cmd]
    p = subprocess.Popen(['taskset', '-c', '0'] + cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         start_new_session=True, env=env)
    deadline = time.time() + 10
    line = ''
    while time.time() < deadline:
        # Wait for a line with a timeout: a server that prints something else
        # (or nothing) must not hang the comparison.
        ready, _, _ = select.select([p.stdout], [], [], max(0.0, deadline - time.time()))
        if not ready:
            break
        line = p.stdout.readline().decode()
        # "listening on http://HOST:PORT" (ours, the peers'), "Listening on port PORT" (uWebSockets' example)
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


def is_idle(load):
    return load.endswith('-idle')


def bench(build, port, load, duration, raw, pid):
    conns, size, depth, extra = LOADS[load]
    if is_idle(load):
        duration = max(duration, IDLE_SECONDS)
        size = 16
    mode = 'idle' if is_idle(load) else 'echo'
    cmd = ['taskset', '-c', '1', f'{build}/apps/duplex-bench', mode, f'ws://127.0.0.1:{port}/echo', '-c', str(conns),
           '-s', str(size), '-d', str(depth), '--duration', str(duration), '--json', '--server-pid', str(pid)] + extra
    if raw:
        cmd.append('--raw')
    out = subprocess.run(cmd, capture_output=True, timeout=duration + 60)
    line = out.stdout.decode().strip().splitlines()
    return json.loads(line[-1]) if line else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--build', default='build')
    ap.add_argument('--rounds', type=int, default=3)
    ap.add_argument('--duration', type=float, default=3)
    ap.add_argument('--loads', default='all')
    ap.add_argument('--servers', default='duplex,epoll-echo,uws,node-ws,py-websockets')
    a = ap.parse_args()
    servers = {
        'duplex': ([f'{a.build}/apps/duplex-server', '--port', '{port}', '--threads', '1', '--max-connections-per-ip', '0'], False),
        'epoll-echo': ([f'{a.build}/bench/epoll_echo', '{port}'], True),
        'uws': ([os.environ.get('UWS_ECHO', '/opt/uws/echo_server'), '{port}'], False),
        'node-ws': (['node', os.environ.get('NODE_WS_ECHO', '/opt/bench-peers/ws_echo.js'), '{port}'], False),
        'py-websockets': (['/usr/bin/python3', os.environ.get('PY_ECHO', '/opt/bench-peers/py_echo.py'), '{port}'], False),
    }
    wanted = [s for s in a.servers.split(',') if s in servers]
    for s in list(wanted):
        exe = servers[s][0][0] if servers[s][0][0] not in ('node', '/usr/bin/python3') else servers[s][0][1]
        if not os.path.exists(exe):
            print(f'# {s}: not available ({exe}), skipped')
            wanted.remove(s)
    loads = list(LOADS) if a.loads == 'all' else a.loads.split(',')
    results = {(s, l): [] for s in wanted for l in loads}
    for r in range(a.rounds):
        for load in loads:
            for s in wanted:  # alternating servers within each round
                cmd, raw = servers[s]
                if raw and is_idle(load):
                    continue  # the raw echo speaks no WebSocket: nothing to hold open
                p, port = start(cmd)
                try:
                    res = bench(a.build, port, load, a.duration, raw, p.pid)
                finally:
                    stop(p)
                if res and res['errors'] == 0:
                    results[(s, load)].append(res)
                if res and is_idle(load):
                    line = (f"{res['server']['anon_per_connection']:>12.0f} B/conn anonymous "
                            f"({res['server']['rss_per_connection']:.0f} rss; kernel, both ends: "
                            f"{res['server'].get('kernel_sockets_per_connection_both_ends', 0):.0f} sockets + "
                            f"{res['server'].get('kernel_tcp_buffers_per_connection_both_ends', 0):.0f} buffers)  "
                            f"open {res['handshakes']}")
                elif res:
                    line = (f"{res['messages_per_second']:>12.0f} msg/s  p50 {res['latency_us']['p50']:.0f} us  "
                            f"cpu {res['server']['cpu_percent']:.0f}%")
                else:
                    line = 'failed'
                print(f'# round {r + 1} {load:16s} {s:14s} ' + line, flush=True)
    print()
    # Server CPU time per message: what the server spends, whoever is the
    # bottleneck (when the load generator saturates its core, msg/s stops
    # telling servers apart; this still does).
    print(f"{'load':16s} {'server':14s} {'msg/s (median)':>15s} {'p50 us':>8s} {'p99 us':>8s} {'duplex/this':>12s}"
          f" {'server ns/msg':>14s}")
    def median(server, load, value):
        xs = results.get((server, load), [])
        return statistics.median(value(x) for x in xs) if xs else None

    msg_rate = lambda x: x['messages_per_second']
    # Private anonymous memory: VmRSS would also count the code pages a
    # server's first handshake faults in (libcrypto's SHA-1), not per connection.
    anon = lambda x: x['server']['anon_per_connection']
    for load in [l for l in loads if not is_idle(l)]:
        base_m = median('duplex', load, msg_rate)
        for s in wanted:
            xs = results[(s, load)]
            if not xs:
                print(f'{load:16s} {s:14s} {"-":>15s}')
                continue
            m = median(s, load, msg_rate)
            p50 = statistics.median(x['latency_us']['p50'] for x in xs)
            p99 = statistics.median(x['latency_us']['p99'] for x in xs)
            ratio = f'{base_m / m:.2f}' if base_m else '-'
            ns = statistics.median(x['server']['cpu_percent'] / 100 / x['messages_per_second'] * 1e9
                                   for x in xs if x['messages_per_second'] > 0)
            print(f'{load:16s} {s:14s} {m:>15.0f} {p50:>8.0f} {p99:>8.0f} {ratio:>12s} {ns:>14.0f}')
    idle = [l for l in loads if is_idle(l)]
    if idle:
        print()
        print(f"{'load':16s} {'server':14s} {'anon B/conn':>15s} {'duplex/this (lower: duplex leaner)':>36s}")
    for load in idle:
        base_m = median('duplex', load, anon)
        for s in wanted:
            m = median(s, load, anon)
            if not m:
                print(f'{load:16s} {s:14s} {"- (not all open)":>15s}')
                continue
            ratio = f'{base_m / m:.2f}' if base_m else '-'
            print(f'{load:16s} {s:14s} {m:>15.0f} {ratio:>36s}')


if __name__ == '__main__':
    main()
