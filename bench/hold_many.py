#!/usr/bin/env python3
"""Holds many idle WebSocket connections open at once on this machine, more
than one process may have descriptors for, by spreading them over several
duplex-server processes (each with its own duplex-bench): the kernel's and
the servers' memory at that scale, and whether every connection opened.

    bench/hold_many.py --build build [--connections 100000] [--per-process N] [--duration 30]
                       [--server PATH] [--bench PATH]

One process can hold at most RLIMIT_NOFILE descriptors (here a hard limit of
20 000 that cannot be raised), so N connections need ceil(N / per-process)
server processes (`duplex-server --threads 1`, each on its own port) and as
many duplex-bench processes (`idle`, each from its own 127.0.0.x source
addresses). Every server is started first; then all the generators at once;
each holds its share for --duration seconds and reports the server it
talks to (private memory per connection, measured as in compare.py).
Printed: how many opened, the servers' memory in total and per connection,
and, for the whole machine while all are held, the TCP sockets in use and
the kernel's slab growth per connection (both ends: on loopback the
generators' sockets are on this machine too).

Bounded: every process gets a deadline and is killed (process group) at the
end, whatever happens.
"""
import argparse, json, math, resource, subprocess, sys, time

from compare import start, stop


def slab_bytes():
    with open('/proc/meminfo') as f:
        for line in f:
            if line.startswith('Slab:'):
                return int(line.split()[1]) * 1024
    return 0


def tcp_in_use():
    with open('/proc/net/sockstat') as f:
        for line in f:
            if line.startswith('TCP:'):
                fields = line.split()
                return int(fields[fields.index('inuse') + 1])
    return 0


def main():
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    ap = argparse.ArgumentParser()
    ap.add_argument('--build', default='build')
    ap.add_argument('--connections', type=int, default=100000)
    # Leave room for the process's other descriptors (listener, epoll, eventfd, logs).
    ap.add_argument('--per-process', type=int, default=max(1, soft - 256))
    ap.add_argument('--duration', type=float, default=30)
    ap.add_argument('--server', help='duplex-server (default: BUILD/apps/duplex-server)')
    ap.add_argument('--bench', help='duplex-bench (default: BUILD/apps/duplex-bench)')
    a = ap.parse_args()
    server = a.server or f'{a.build}/apps/duplex-server'
    generator = a.bench or f'{a.build}/apps/duplex-bench'
    procs = math.ceil(a.connections / a.per_process)
    shares = [a.connections // procs + (1 if i < a.connections % procs else 0) for i in range(procs)]
    print(f'# {a.connections} connections over {procs} server processes '
          f'(RLIMIT_NOFILE {soft}: at most {a.per_process} each): {shares}', flush=True)
    servers, gens = [], []
    slab_before = slab_bytes()
    try:
        for _ in range(procs):
            servers.append(start([server, '--threads', '1', '--max-connections-per-ip', '0', '--port', '{port}',
                                  '--ping-interval-ms', '0', '--idle-timeout-ms', '0']))
        for i, ((p, port), share) in enumerate(zip(servers, shares)):
            # Each generator from its own four source addresses: ports to spare.
            first = 2 + 4 * i
            sources = f'127.0.0.{first}-127.0.0.{first + 3}'
            cmd = [generator, 'idle', f'ws://127.0.0.1:{port}/echo', '-c', str(share),
                   '--duration', str(a.duration), '--sources', sources, '--server-pid', str(p.pid), '--json']
            gens.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                         start_new_session=True))
        # The kernel's share, for the whole machine, once all are open (the
        # generators take a few seconds to open theirs; they hold until
        # --duration): slab growth and the TCP sockets in use.
        time.sleep(a.duration * 0.7)
        slab_open, tcp_open = slab_bytes(), tcp_in_use()
        results = []
        deadline = time.time() + a.duration + 120
        for g in gens:
            out, _ = g.communicate(timeout=max(1.0, deadline - time.time()))
            lines = out.decode().strip().splitlines()
            results.append(json.loads(lines[-1]) if lines else None)
    finally:
        for g in gens:
            if g.poll() is None:
                g.kill()
                g.wait()
        for p, _ in servers:
            stop(p)
    if any(r is None for r in results):
        print('a generator printed no summary', file=sys.stderr)
        return 1
    opened = sum(r['handshakes'] for r in results)
    anon = sum(r['server']['anon_per_connection'] * r['handshakes'] for r in results)
    for i, r in enumerate(results):
        print(f"# process {i + 1}: open {r['handshakes']} of {shares[i]}, "
              f"{r['server']['anon_per_connection']:.0f} B/conn anonymous, errors {r['errors']}")
    print(json.dumps({
        'connections_asked': a.connections,
        'connections_open': opened,
        'server_processes': procs,
        'server_anon_bytes_total': round(anon),
        'server_anon_per_connection': round(anon / opened) if opened else None,
        'tcp_sockets_in_use_while_held': tcp_open,
        'kernel_slab_growth_per_connection_both_ends': round((slab_open - slab_before) / opened) if opened else None,
    }))
    return 0 if opened == a.connections else 1


if __name__ == '__main__':
    sys.exit(main())
