#!/usr/bin/python3
"""duplex_peer_test.py: duplex-peer as a user meets it and as a hostile room
or server treats it (issues 14 and 15).

    /usr/bin/python3 tests/interop/duplex_peer_test.py PATH/duplex-server PATH/duplex-peer [CASE ...]

Cases: usage errors are one line and exit 2; a host with no usable address
is told so (run inside a loopback-only network namespace made by `unshare
--net`); malformed messages from a fake signaling server (python3-websockets
10.4) are logged and ignored, never a crash; an unanswered join times out;
room members that send a garbage offer, an unsolicited answer, an offer and
leave at once, or more peers than --max-peers are dropped or ignored while
a good peer is still served; --send to a peer that does not answer finishes;
received files are never overwritten; the default output names the room,
the peers and the connection. Every process runs in a process group of its
own, killed on every exit path; a watchdog (SIGALRM) ends the run after
WATCHDOG seconds. Prints one line per case, then "N passed, N failed";
exits 0 only if all pass. Peers use --bind 127.0.0.1 (loopback only).
"""
import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import tempfile

import websockets

WATCHDOG = 240
HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.normpath(os.path.join(HERE, '..', 'fixtures', 'sdp'))
SERVER = PEER = None
GROUPS = []


class Fail(Exception):
    pass


def check(cond, why):
    if not cond:
        raise Fail(why)


def kill_all():
    while GROUPS:
        pid = GROUPS.pop()
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


async def spawn(*argv, stdout=asyncio.subprocess.PIPE):
    p = await asyncio.create_subprocess_exec(*argv, stdin=asyncio.subprocess.DEVNULL, stdout=stdout,
                                             stderr=asyncio.subprocess.PIPE, start_new_session=True)
    GROUPS.append(p.pid)
    return p


class Lines:
    """A stream's lines as they come, kept, with waits that have deadlines."""

    def __init__(self, stream):
        self.lines = []
        self.cond = asyncio.Condition()
        self.task = asyncio.ensure_future(self._read(stream))

    async def _read(self, stream):
        while True:
            line = await stream.readline()
            if not line:
                break
            async with self.cond:
                self.lines.append(line.decode(errors='replace').rstrip('\n'))
                self.cond.notify_all()

    async def wait_for(self, pattern, seconds=15):
        rx = re.compile(pattern)

        async def found():
            async with self.cond:
                await self.cond.wait_for(lambda: any(rx.search(l) for l in self.lines) or self.task.done())
                return any(rx.search(l) for l in self.lines)
        try:
            ok = await asyncio.wait_for(found(), seconds)
        except asyncio.TimeoutError:
            ok = False
        check(ok, f'no line matching {pattern!r} within {seconds} s; got: {self.lines[-12:]}')

    def count(self, pattern):
        return sum(1 for l in self.lines if re.search(pattern, l))


async def start_server():
    p = await spawn(SERVER, '--port', '0', '--threads', '1')
    line = (await asyncio.wait_for(p.stdout.readline(), 10)).decode()
    m = re.search(r'listening on http://127\.0\.0\.1:(\d+)', line)
    check(m, f'duplex-server did not start: {line!r}')
    return p, f'ws://127.0.0.1:{m.group(1)}/signal'


async def start_peer(signal_url, room, *args):
    p = await spawn(PEER, '--signal', signal_url, '--room', room, '--bind', '127.0.0.1', *args)
    return p, Lines(p.stdout), Lines(p.stderr)


async def exit_code(p, seconds):
    try:
        return await asyncio.wait_for(p.wait(), seconds)
    except asyncio.TimeoutError:
        raise Fail(f'still running after {seconds} s')


async def stop_with_sigterm(p, what):
    """--echo and --receive-dir run until SIGTERM, and then exit 0."""
    check(p.returncode is None, f'{what} ended before SIGTERM ({p.returncode})')
    p.send_signal(signal.SIGTERM)
    check(await exit_code(p, 5) == 0, f'{what} did not exit 0 on SIGTERM')


async def run_once(*argv, seconds=10):
    p = await spawn(*argv)
    out, err = await asyncio.wait_for(p.communicate(), seconds)
    return p.returncode, out.decode(), err.decode()


# ---------------------------------------------------------------- cases

async def case_usage_errors():
    """Usage errors: one line naming the program, exit 2."""
    for args, want in [(['--signal', 'http://127.0.0.1:1/signal', '--room', 'r', '--echo'], 'must be a ws:// or wss:// URL'),
                       (['--signal', 'ws://127.0.0.1:1/signal', '--room', 'a b', '--echo'], '--room must be'),
                       (['--signal', 'ws://127.0.0.1:1/signal', '--room', 'r'], 'say what to do: --echo, --send, --send-file, --receive-dir, --media-echo, --video, --audio or --record'),
                       (['--signal', 'ws://127.0.0.1:1/signal', '--room', 'r', '--echo', '--bogus'], 'bogus'),
                       (['--signal', 'ws://127.0.0.1:1/signal', '--room', 'r', '--echo', '-v', '-q'], 'excludes'),
                       (['--signal', 'ws://127.0.0.1:1/signal', '--room', 'r', '--record', PEER], 'is not a directory')]:
        rc, out, err = await run_once(PEER, *args)
        lines = err.strip().split('\n')
        check(rc == 2, f'{args}: exit {rc}, want 2 ({err!r})')
        check(len(lines) == 1 and lines[0].startswith('duplex-peer: ') and want in lines[0],
              f'{args}: stderr {err!r}, want one "duplex-peer: ...{want}..." line')
    return '6 usage errors, each one line and exit 2'


async def case_no_usable_address():
    """In a loopback-only namespace: no address without --bind, none matching --bind 10.9.9.9."""
    script = f'ip link set lo up && exec "$@"'
    base = ['unshare', '--net', 'sh', '-c', script, 'sh', PEER, '--signal', 'ws://127.0.0.1:9/signal', '--room', 'r',
            '--echo']
    rc, _, err = await run_once(*base)
    check(rc == 1, f'exit {rc}, want 1 ({err!r})')
    check('no usable local address (only loopback?): try --bind 127.0.0.1' in err, f'stderr {err!r}')
    rc, _, err = await run_once(*base, '--bind', '10.9.9.9')
    check(rc == 1 and '--bind 10.9.9.9 matches no local address' in err, f'exit {rc}, stderr {err!r}')
    return 'told, exit 1, before any connection'


async def fake_server(script, never=None):
    """A signaling server that answers join with `joined` and then runs script(ws);
    with no script, it never answers (until `never` is set)."""
    async def handler(ws, path=None):
        join = json.loads(await ws.recv())
        if script is None:
            await never
            return
        await ws.send(json.dumps({'type': 'joined', 'room': join['room'], 'id': 'me', 'peers': [], 'iceServers': []}))
        await script(ws)
    return await websockets.serve(handler, '127.0.0.1', 0)


async def case_malformed_server_messages():
    """Wrong JSON types from the server: logged and ignored; the peer lives on until the server leaves."""
    done = asyncio.get_event_loop().create_future()

    async def script(ws):
        for m in [{'type': 'offer', 'from': 5, 'sdp': 'x'}, {'type': 'offer', 'from': 'f', 'sdp': []},
                  {'type': 'peer-left', 'id': 7}, {'type': 'peer-joined', 'id': {}}, '{not json', [1, 2],
                  {'type': 'joined', 'room': 'r', 'id': 'again', 'peers': []}]:
            await ws.send(m if isinstance(m, str) else json.dumps(m))
        await done
    srv = await fake_server(script)
    port = srv.sockets[0].getsockname()[1]
    p, out, err = await start_peer(f'ws://127.0.0.1:{port}/signal', 'r', '--echo')
    try:
        await err.wait_for(r'ignoring a second `joined`')
        check(err.count('ignoring a malformed signaling message') == 6, f'stderr: {err.lines}')
        check(p.returncode is None, f'duplex-peer exited ({p.returncode}) on a malformed message')
    finally:
        done.set_result(True)
    rc = await exit_code(p, 10)
    check(rc == 1 and err.count('signaling connection closed') == 1, f'exit {rc} after the server left; {err.lines[-3:]}')
    srv.close()
    await srv.wait_closed()
    return '6 malformed messages ignored, exit 1 only when the server went'


async def case_join_timeout():
    """A server that never answers the join: a clear message and exit 1."""
    never = asyncio.get_event_loop().create_future()
    srv = await fake_server(None, never)
    port = srv.sockets[0].getsockname()[1]
    p, _, err = await start_peer(f'ws://127.0.0.1:{port}/signal', 'r', '--echo', '--join-timeout', '1')
    rc = await exit_code(p, 10)
    never.set_result(True)
    check(rc == 1, f'exit {rc}, want 1')
    await err.wait_for(r'no answer to join from ws://127\.0\.0\.1:\d+/signal within 1 s')
    srv.close()
    await srv.wait_closed()
    return 'exit 1 after 1 s with the reason'


async def hostile_member(signal_url, room):
    ws = await websockets.connect(signal_url)
    await ws.send(json.dumps({'type': 'join', 'room': room}))
    while True:
        m = json.loads(await ws.recv())
        if m['type'] == 'joined':
            return ws, m


async def case_hostile_room_members():
    """Bad offers, an unsolicited answer, offer-then-leave, --max-peers: dropped or ignored; a good peer is served."""
    server, url = await start_server()
    room = 'hostile'
    echo, out, err = await start_peer(url, room, '--echo', '--id', 'echo', '--max-peers', '3')
    await err.wait_for(r'joined room hostile as echo; waiting for peers')
    # A real browser's offer, without its candidates (nothing to send checks to).
    offer = ''.join(l for l in open(os.path.join(FIXTURES, 'chromium_dc_offer.sdp'), newline='').read().splitlines(True)
                    if not l.startswith('a=candidate'))
    # 1. A garbage offer.
    a, _ = await hostile_member(url, room)
    await a.send(json.dumps({'type': 'offer', 'to': 'echo', 'sdp': 'garbage'}))
    await err.wait_for(r'peer \S+: bad offer: .*; dropping this peer')
    # 2. An answer nobody asked for.
    b, jb = await hostile_member(url, room)
    await b.send(json.dumps({'type': 'answer', 'to': 'echo', 'sdp': offer}))
    await err.wait_for(rf'peer {jb["id"]}: ignoring an answer to nothing we offered')
    # 3. An offer, then gone at once.
    c, jc = await hostile_member(url, room)
    await c.send(json.dumps({'type': 'offer', 'to': 'echo', 'sdp': offer}))
    await c.close()
    await err.wait_for(rf'peer {jc["id"]} left')
    # 4. More offers than --max-peers 3 (offers that will never connect).
    extra = []
    for _ in range(4):
        ws, _ = await hostile_member(url, room)
        await ws.send(json.dumps({'type': 'offer', 'to': 'echo', 'sdp': offer}))
        extra.append(ws)
    await err.wait_for(r'ignoring peer \S+: --max-peers 3 reached')
    check(echo.returncode is None, f'duplex-peer --echo exited ({echo.returncode})')
    # Room made for a good peer: the hostile ones leave, a real one asks for an echo.
    for ws in extra + [a, b]:
        await ws.close()
    await err.wait_for(r'peer \S+ left')
    good, gout, gerr = await start_peer(url, room, '--send', 'still here?', '--timeout', '30')
    rc = await exit_code(good, 40)
    check(rc == 0, f'the good peer exited {rc}: {gerr.lines[-5:]}')
    await gout.wait_for(r'^still here\?$')
    await stop_with_sigterm(echo, 'duplex-peer --echo')
    server.kill()
    return 'each hostile member dropped or ignored, then a good peer echoed'


async def case_send_without_reply_and_files_never_overwritten():
    """--send to a peer that does not answer finishes; two files of one name are both kept."""
    server, url = await start_server()
    with tempfile.TemporaryDirectory() as tmp:
        inbox = os.path.join(tmp, 'inbox')
        os.mkdir(inbox)
        src = os.path.join(tmp, 'notes.txt')
        rx, rout, rerr = await start_peer(url, 'files', '--receive-dir', inbox, '--id', 'rx')
        await rerr.wait_for(r'joined room files as rx')
        tx, tout, terr = await start_peer(url, 'files', '--send', 'hello', '--reply-timeout', '1', '--timeout', '30')
        check(await exit_code(tx, 40) == 0, f'--send exited non-zero: {terr.lines[-4:]}')
        await terr.wait_for(r'no reply from rx within 1 s; the message was delivered')
        for content in ('first', 'second'):
            with open(src, 'w') as f:
                f.write(content)
            s, _, serr = await start_peer(url, 'files', '--send-file', src, '--timeout', '30')
            check(await exit_code(s, 40) == 0, f'--send-file exited non-zero: {serr.lines[-4:]}')
        await rout.wait_for(r'^received notes \(1\)\.txt 6 bytes sha256 ')
        kept = sorted(os.listdir(inbox))
        check(kept == ['notes (1).txt', 'notes.txt'], f'inbox holds {kept}')
        check(open(os.path.join(inbox, 'notes.txt')).read() == 'first', 'the first file was overwritten')
        check(open(os.path.join(inbox, 'notes (1).txt')).read() == 'second', 'the second file is not "notes (1).txt"')
        await stop_with_sigterm(rx, 'duplex-peer --receive-dir')
    server.kill()
    return '--send finished after 1 s; notes.txt and notes (1).txt kept'


async def case_default_output():
    """Without -v: one line each for joined, peers, the connection; -q: nothing."""
    server, url = await start_server()
    a, _, aerr = await start_peer(url, 'talk', '--echo', '--id', 'a')
    await aerr.wait_for(r'^duplex-peer: joined room talk as a; waiting for peers$')
    b, _, berr = await start_peer(url, 'talk', '--send', 'x', '--id', 'b', '-q', '--timeout', '30')
    check(await exit_code(b, 40) == 0, f'b exited non-zero: {berr.lines}')
    check(berr.lines == [], f'-q printed {berr.lines}')
    await aerr.wait_for(r'^duplex-peer: peer b joined$')
    await aerr.wait_for(r'^duplex-peer: peer b: connected \(127\.0\.0\.1:\d+ host <-> 127\.0\.0\.1:\d+ host\)$')
    await aerr.wait_for(r'^duplex-peer: peer b left$')
    await stop_with_sigterm(a, 'duplex-peer --echo (a)')
    server.kill()
    return 'joined, peer joined, connected, left; -q silent'


CASES = [case_usage_errors, case_no_usable_address, case_malformed_server_messages, case_join_timeout,
         case_hostile_room_members, case_send_without_reply_and_files_never_overwritten, case_default_output]


async def main():
    wanted = sys.argv[3:]
    passed = failed = 0
    for case in CASES:
        name = case.__name__[5:]
        if wanted and name not in wanted:
            continue
        try:
            result = await asyncio.wait_for(case(), 90)
            print(f'ok   {name}: {result}', flush=True)
            passed += 1
        except (Fail, asyncio.TimeoutError, OSError) as e:
            print(f'FAIL {name}: {e!r}' if isinstance(e, asyncio.TimeoutError) else f'FAIL {name}: {e}', flush=True)
            failed += 1
        finally:
            kill_all()
    print(f'{passed} passed, {failed} failed')
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == '__main__':
    SERVER, PEER = sys.argv[1], sys.argv[2]

    def on_alarm(*_):
        kill_all()
        print(f'watchdog: over {WATCHDOG} s')
        os._exit(1)
    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(WATCHDOG)
    try:
        rc = asyncio.get_event_loop().run_until_complete(main())
    finally:
        kill_all()
    sys.exit(rc)
