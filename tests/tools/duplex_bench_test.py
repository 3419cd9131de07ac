#!/usr/bin/env python3
"""duplex-bench against duplex-server, briefly, in every mode: each run must
report messages (or handshakes, or open connections), no errors, and JSON
that parses. Also the raw epoll echo floor with --raw, and bad usage.

    duplex_bench_test.py DUPLEX_SERVER DUPLEX_BENCH EPOLL_ECHO
"""
import json, os, re, signal, subprocess, sys, threading, time

server_bin, bench_bin, echo_bin = sys.argv[1:4]
procs = []
passed = failed = 0


def watchdog():
    time.sleep(120)
    print('watchdog: 120 s, giving up', flush=True)
    for p in procs:
        try: os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError: pass
    os._exit(1)


threading.Thread(target=watchdog, daemon=True).start()


def start(cmd):
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True)
    procs.append(p)
    line = p.stdout.readline().decode()
    m = re.search(r':(\d+)\s*$', line)
    if not m:
        raise RuntimeError(f'{cmd[0]} did not start: {line!r}')
    return p, int(m.group(1))


def bench(*args):
    out = subprocess.run([bench_bin, *args, '--json'], capture_output=True, timeout=60)
    return out.returncode, json.loads(out.stdout.decode().strip().splitlines()[-1]) if out.stdout.strip() else None


def closed_port():
    # A port nobody listens on: bound, then let go.
    import socket
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


def check(name, cond, detail=''):
    global passed, failed
    if cond:
        passed += 1
        print(f'ok   {name} {detail}')
    else:
        failed += 1
        print(f'FAIL {name} {detail}')


try:
    # Load from one address: no per-address limit (duplex-server's default is 256).
    srv, port = start([server_bin, '--port', '0', '--threads', '1', '--max-connections-per-ip', '0'])
    url = f'ws://127.0.0.1:{port}'
    rc, r = bench('echo', f'{url}/echo', '-c', '20', '-s', '64', '-d', '4', '--duration', '1', '--server-pid', str(srv.pid))
    check('echo', rc == 0 and r and r['messages'] > 1000 and r['errors'] == 0 and r['latency_us']['p50'] > 0
          and r['server']['rss_bytes'] > 0, json.dumps(r))
    # --deflate against a server that declines it, then one that agrees.
    rc, r = bench('echo', f'{url}/echo', '-c', '10', '-s', '4096', '--duration', '1', '--deflate', '--binary')
    check('echo --deflate, declined', rc == 0 and r and r['messages'] > 100 and r['errors'] == 0, json.dumps(r))
    zsrv, zport = start([server_bin, '--port', '0', '--threads', '1', '--deflate'])
    rc, r = bench('echo', f'ws://127.0.0.1:{zport}/echo', '-c', '10', '-s', '4096', '--duration', '1', '--deflate')
    # 4 KiB of 'abc..z' compresses to well under 1/10: bytes in per message shows it was agreed.
    check('echo --deflate, agreed', rc == 0 and r and r['messages'] > 100 and r['errors'] == 0
          and r['megabytes_per_second'] * 1e6 / max(r['messages_per_second'], 1) < 400, json.dumps(r))
    rc, r = bench('fanout', f'{url}/pubsub/bench', '-c', '50', '--publishers', '2', '--rate', '200', '--duration', '1.5')
    # 2 publishers x 200/s x ~1.5 s x 48 subscribers (the others, not themselves)
    check('fanout', rc == 0 and r and r['messages'] > 2 * 200 * 48 * 0.5 and r['errors'] == 0
          and r['latency_us']['p50'] > 0, json.dumps(r))
    rc, r = bench('connect', f'{url}/echo', '-c', '10', '--duration', '1')
    check('connect', rc == 0 and r and r['handshakes'] > 50, json.dumps(r))
    rc, r = bench('idle', f'{url}/echo', '-c', '300', '--duration', '1.5', '--server-pid', str(srv.pid))
    check('idle', rc == 0 and r and r['handshakes'] == 300 and r['server']['rss_per_connection'] >= 0
          and r['server']['anon_per_connection'] > 0
          and r['server']['kernel_sockets_per_connection_both_ends'] >= 0
          and r['server']['kernel_tcp_buffers_per_connection_both_ends'] >= 0, json.dumps(r))
    rc, r = bench('idle', f'{url}/echo', '-c', '300', '--warm', '2', '--duration', '1.5', '--server-pid', str(srv.pid))
    # Each connection echoes two messages before it idles: all 600 come back.
    check('idle --warm', rc == 0 and r and r['handshakes'] == 300 and r['messages'] == 600 and r['errors'] == 0
          and r['server']['anon_per_connection'] > 0, json.dumps(r))
    echo, eport = start([echo_bin, '0'])
    rc, r = bench('echo', f'ws://127.0.0.1:{eport}/', '--raw', '-c', '10', '--duration', '1')
    check('raw floor', rc == 0 and r and r['messages'] > 1000, json.dumps(r))
    # rtc: two PeerConnections over 127.0.0.1, in one process and in two.
    rtc = subprocess.run([bench_bin, 'rtc', '--megabytes', '4', '--json'], capture_output=True, timeout=60)
    r = json.loads(rtc.stdout) if rtc.returncode == 0 else None
    check('rtc', r and r['bytes'] == 4 << 20 and r['megabytes_per_second'] > 0 and r['setup_ms'] > 0,
          rtc.stdout.decode() + rtc.stderr.decode())
    rtc = subprocess.run([bench_bin, 'rtc', '--megabytes', '4', '--processes', '--json'], capture_output=True, timeout=60)
    r = json.loads(rtc.stdout) if rtc.returncode == 0 else None
    check('rtc --processes', r and r['processes'] and r['bytes'] == 4 << 20 and r['megabytes_per_second'] > 0,
          rtc.stdout.decode() + rtc.stderr.decode())
    bad = subprocess.run([bench_bin, 'echo', 'http://nope'], capture_output=True)
    check('bad url exits 2', bad.returncode == 2 and len(bad.stderr.decode().strip().splitlines()) == 1, bad.stderr.decode())
    # media: every packet sent comes out as frames on the other side; the figures are there (not judged here:
    # speed goals live in the benchmark's own runs, docs/performance.md), and sending allocates nothing per packet.
    media = subprocess.run([bench_bin, 'media', '--packets', '20000', '--rounds', '1', '--json'], capture_output=True,
                           timeout=60)
    r = json.loads(media.stdout) if media.returncode == 0 else None
    check('media', r and r['frames_out'] >= 20000 // 10 - 2 and r['send_pps'] > 0 and r['recv_pps'] > 0 and
          r['send_floor_pps'] > 0 and r['recv_floor_pps'] > 0 and r['send_allocations_per_packet'] == 0,
          media.stdout.decode() + media.stderr.decode())

    # A connection that fails says why; --help names every mode, rtc too.
    refused = subprocess.run([bench_bin, 'echo', f'ws://127.0.0.1:{closed_port()}/echo', '-c', '1', '--duration', '0.3'],
                             capture_output=True, timeout=30)
    err = refused.stderr.decode()
    check('connect failure names the reason', refused.returncode == 1 and 'failed: Connection refused' in err, err)
    helptext = subprocess.run([bench_bin, '--help'], capture_output=True, timeout=30).stdout.decode()
    check('--help lists rtc', 'duplex-bench rtc' in helptext and 'echo' in helptext, helptext[-400:])
    check('--help lists media', 'duplex-bench media' in helptext, helptext[-400:])
finally:
    for p in procs:
        try: os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError: pass
        p.wait()
print(f'{passed} passed, {failed} failed')
sys.exit(1 if failed else 0)
