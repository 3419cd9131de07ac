#!/usr/bin/python3
"""A foreign WebRTC peer, aiortc (Debian python3-aiortc 1.4), that speaks duplex's signaling protocol
(docs/signaling.md) and file-transfer protocol (docs/file-transfer.md). Run it with /usr/bin/python3.

  peer_aiortc.py --signal ws://127.0.0.1:PORT/signal --room R [--id NAME] [--timeout S] [-v]
                 --scenario SCENARIO [--file PATH] [--dir DIR] [--relay SPEC]

Scenarios against a peer that is duplex-peer (or another foreign peer standing in for it):
  echo           the other side echoes (duplex-peer --echo): send text, binary (1 KiB, 256 KiB random), empty
                 text, empty binary (unless --skip-empty) and non-ASCII text on the `data` channel; every echo must come back identical
                 and of the same type. Prints `PASS echo`.
  receive-file   the other side sends a file (duplex-peer --send-file): accept the `file-…` channel, hash the
                 chunks as they arrive, answer file-ok / file-error. Prints `PASS receive-file SIZE SHA256`
                 (and stores the file in --dir if given).
  send-file      the other side stores files (duplex-peer --receive-dir): once the `data` channel is open,
                 open `file-1` and send --file with bufferedAmount flow control; wait for file-ok with our digest.
                 Prints `PASS send-file`.
  media-echo     the other side sends every track back (duplex-peer --media-echo): send a moving 320x240 video
                 (aiortc's VP8 encoder) and a tone (its Opus encoder) beside the `data` channel, in either role;
                 decode what comes back. Passes when MEDIA_VIDEO_FRAMES video frames of our size and
                 MEDIA_AUDIO_FRAMES audio frames came back decoded: prints `PASS media-echo video N WxH audio M`.
Through a lossy path (need --relay, see below):
  lossy-receive-file   as receive-file; prints `PASS lossy-receive-file SIZE SHA256`.
  lossy-media-echo     as media-echo; prints `PASS lossy-media-echo video N WxH audio M`.
  lossy-unordered      the other side echoes (duplex-peer --echo): once `data` is open, open `lossy`
                 (ordered=False, maxRetransmits=0), send 500 numbered text messages on it 2 ms apart, then a
                 marker on `data` and wait for its echo (and 1 s more for late echoes on `lossy`). Passes if
                 fewer than 500 but more than 250 echoes came back, some after the first lost message, none
                 twice, and the marker's did: prints `lossy-unordered: first lost #L, last echoed #G, …` and
                 `PASS lossy-unordered got X of 500`.
Stand-in modes (behave like duplex-peer, so foreign peers can be checked against each other):
  echo-server    like --echo: every message goes back on the channel it came on.
  file-sender    like --send-file --file F: once `data` is open, send F on `file-1`; exit 0 on file-ok.
  file-receiver  like --receive-dir --dir D: store every verified file in D and print
                 `received NAME SIZE bytes sha256 HEX`.
Echo-server and file-receiver run until --timeout or SIGTERM and then exit 0, as duplex-peer does; the other
modes exit 1 with a FAIL line at --timeout (default 60 s).

Signaling: join; offer to every peer in `peers` (creating the `data` channel first); answer later joiners;
candidates trickle both ways in `candidate` messages (aiortc gathers everything in setLocalDescription, so this
script strips the candidates out of its SDP and sends each one as a `candidate` message, then "" for the end).
Remote candidates that arrive before the description they belong to are kept until it is applied.

--relay "loss=0.05,delay_ms=20,reorder=0.05,seed=N": put a lossy UDP relay of this process (lossy_relay.py)
between the peers. Every candidate that crosses the signaling, ours and theirs, in `candidate` messages and in
a=candidate lines of an SDP, is rewritten to the address of a relay socket (and the m= port of our SDP too), so
neither peer ever learns the other's real address and everything (STUN, DTLS, SCTP) goes through the relay,
with the given loss, delay (+ jitter), reordering. At the end the relay's counters are printed on stdout as
`RELAY aiortc->other forwarded=N dropped=N reordered=N bytes=N stun=N dtls=N sctp=N other=N`, the same for
other->aiortc, and `RELAY unmapped=N (KIND=N…) socket-errors=N sockets=N`; the ICE pair aiortc selected is
checked to lead to a relay socket.

Loopback: aioice leaves 127.0.0.1 out of its host candidates; this script gathers exactly 127.0.0.1. It refuses
to run where any interface other than lo exists (use a loopback-only network namespace: unshare --net).
max-message-size: aiortc 1.4 announces 65536 although its SCTP stack reassembles larger messages; this script
announces 262144 (as Chromium and libdatachannel do) so that the 256 KiB echo is within what it declares.
"""
import argparse
import asyncio
import hashlib
import json
import os
import signal
import socket
import sys
import threading

import aioice.ice

# aioice drops exactly 127.0.0.1 from the host addresses: gather only that (loopback-only namespace). In a
# namespace of a test's own with real interfaces (RTC_ALLOW_ANY_NETNS, nat_test.sh) its own choice stands.
if not os.environ.get('RTC_ALLOW_ANY_NETNS'):
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ['127.0.0.1'] if use_ipv4 else []

import websockets  # noqa: E402
from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCSessionDescription  # noqa: E402
from aiortc.mediastreams import AudioStreamTrack, MediaStreamError, VideoStreamTrack  # noqa: E402
from aiortc.rtcsctptransport import RTCSctpCapabilities, RTCSctpTransport  # noqa: E402
from aiortc.sdp import candidate_from_sdp  # noqa: E402

from lossy_relay import LossyRelay, RelayConfig  # noqa: E402  (beside this script)

MAX_MESSAGE_SIZE = 262144
RTCSctpTransport.getCapabilities = classmethod(lambda cls: RTCSctpCapabilities(maxMessageSize=MAX_MESSAGE_SIZE))

CHUNK = 65536
LOW_THRESHOLD = 256 * 1024
HIGH_WATER = 1024 * 1024
SCENARIOS = ['echo', 'receive-file', 'send-file', 'echo-server', 'file-sender', 'file-receiver',
             'lossy-receive-file', 'lossy-unordered', 'media-echo', 'lossy-media-echo']
MEDIA_SCENARIOS = ('media-echo', 'lossy-media-echo')
MEDIA_VIDEO_FRAMES = 60    # media-echo: decoded video frames to see come back (2 s at 30 frames/s)
MEDIA_AUDIO_FRAMES = 100   # and audio frames (20 ms each: 2 s)
RECEIVE_FILE = ('receive-file', 'file-receiver', 'lossy-receive-file')
LOSSY_COUNT = 500          # lossy-unordered: messages on the `lossy` channel
LOSSY_GAP = 0.002          # seconds between them
WAITING_MODES = ('echo-server', 'file-receiver')   # end well at the timeout / on SIGTERM

args = None
NAME = 'peer_aiortc'


def log(*a):
    print(f'[{NAME}]', *a, file=sys.stderr, flush=True)


def vlog(*a):
    if args and args.verbose:
        log(*a)


def out(line):
    print(line, flush=True)


def file_sha256(path):
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                return h.hexdigest()
            h.update(b)


def safe_name(name):
    base = os.path.basename(str(name).replace('\\', '/'))
    return base if base not in ('', '.', '..') else 'file'


def split_sdp(sdp):
    """The SDP without its candidate lines, and [(candidate, mid, mline_index)] taken from it."""
    lines = sdp.replace('\r\n', '\n').split('\n')
    keep, found, mids, index = [], [], [], -1
    for ln in lines:
        if ln.startswith('m='):
            index += 1
            mids.append(None)
        elif ln.startswith('a=mid:') and index >= 0:
            mids[index] = ln[6:]
        if ln.startswith('a=candidate:'):
            found.append((ln[2:], index))
            continue
        if ln == 'a=end-of-candidates':
            continue
        keep.append(ln)
    text = '\r\n'.join(x for x in keep if x != '') + '\r\n'
    return text, [(c, mids[i] if i >= 0 else '0', max(i, 0)) for c, i in found]


class Link:
    def __init__(self, remote):
        self.remote = remote
        self.pc = None
        self.remote_set = False
        self.pending = []          # remote candidate messages waiting for the remote description
        self.ended_remote = False
        self.media_added = False   # media-echo
        self.media_counts = {}
        self.media_passed = False


class MovingVideoTrack(VideoStreamTrack):
    """320x240 frames at 30/s whose picture moves: a bright bar steps across a dark field."""
    WIDTH, HEIGHT = 320, 240

    def __init__(self):
        super().__init__()
        self.n = 0

    async def recv(self):
        from av import VideoFrame
        pts, time_base = await self.next_timestamp()
        frame = VideoFrame(self.WIDTH, self.HEIGHT, 'yuv420p')
        x = (self.n * 4) % (self.WIDTH - 16)
        self.n += 1
        luma = frame.planes[0]
        row = bytearray([32]) * luma.line_size
        row[x:x + 16] = bytes([224]) * 16
        luma.update(bytes(row) * self.HEIGHT)
        for plane in frame.planes[1:]:
            plane.update(bytes([128]) * (plane.line_size * (self.HEIGHT // 2)))
        frame.pts = pts
        frame.time_base = time_base
        return frame


class ToneTrack(AudioStreamTrack):
    """A 440 Hz tone (aiortc's AudioStreamTrack sends silence, which Opus may shrink to nothing)."""

    def __init__(self):
        super().__init__()
        self.phase = 0

    async def recv(self):
        import math
        frame = await super().recv()   # 20 ms of silence, s16 mono 8 kHz, with its timestamps
        samples = frame.samples
        rate = frame.sample_rate
        data = bytearray()
        for i in range(samples):
            v = int(8000 * math.sin(2 * math.pi * 440 * (self.phase + i) / rate))
            data += v.to_bytes(2, 'little', signed=True)
        self.phase += samples
        frame.planes[0].update(bytes(data))
        return frame


class Peer:
    def __init__(self, loop):
        self.loop = loop
        self.ws = None
        self.my_id = None
        self.ice_servers = []
        self.links = {}
        self.pending_by_peer = {}  # candidates from peers we have no link for yet
        self.done = loop.create_future()
        self.started_file = False
        self.pending_pass = None   # receive-file: file-ok is sent, waiting for the sender to close the channel
        self.rx_count = 0
        self.relay = LossyRelay(loop, RelayConfig.parse(args.relay), vlog, names=('aiortc', 'other')) \
            if args.relay else None
        self.started_lossy = False

    # ----- the end -----
    def finish(self, code, line=None):
        if self.done.done():
            return
        if line:
            out(line)
        self.done.set_result(code)

    def fail(self, why):
        self.finish(1, f'FAIL {args.scenario}: {why}')

    # ----- signaling -----
    async def send(self, msg):
        vlog('->', json.dumps(msg)[:160])
        await self.ws.send(json.dumps(msg))

    async def run_signaling(self):
        try:
            async with websockets.connect(args.signal, max_size=None, ping_interval=None) as ws:
                self.ws = ws
                join = {'type': 'join', 'room': args.room}
                if args.id:
                    join['id'] = args.id
                await self.send(join)
                async for raw in ws:
                    if isinstance(raw, bytes):
                        continue
                    try:
                        m = json.loads(raw)
                    except ValueError:
                        log('signaling: not JSON:', raw[:100])
                        continue
                    vlog('<-', raw[:160])
                    try:
                        await self.on_signal(m)
                    except Exception as e:  # noqa: BLE001 - report and go on
                        log(f'handling {m.get("type")}: {type(e).__name__}: {e}')
                        if m.get('type') in ('offer', 'answer'):
                            self.fail(f'{m.get("type")} from {m.get("from")}: {type(e).__name__}: {e}')
            if not self.done.done():
                self.fail('the signaling connection closed')
        except Exception as e:  # noqa: BLE001
            if not self.done.done():
                self.fail(f'signaling: {type(e).__name__}: {e}')

    async def on_signal(self, m):
        t = m.get('type')
        if t == 'joined':
            self.my_id = m.get('id')
            self.ice_servers = m.get('iceServers') or []
            peers = [p for p in m.get('peers', []) if isinstance(p, str)]
            out(f'joined {m.get("room")} as {self.my_id} peers {json.dumps(peers)}')
            for p in peers:
                await self.offer_to(p)
        elif t == 'peer-joined':
            log('peer joined:', m.get('id'))
        elif t == 'peer-left':
            pid = m.get('id')
            log('peer left:', pid)
            link = self.links.pop(pid, None)
            self.pending_by_peer.pop(pid, None)
            if link:
                await link.pc.close()
                if self.pending_pass:
                    self.finish(0, self.pending_pass)
                elif args.scenario not in WAITING_MODES:
                    self.fail(f'peer {pid} left before the {args.scenario} scenario finished')
        elif t in ('offer', 'answer'):
            await self.on_description(m.get('from'), t, m.get('sdp', ''))
        elif t == 'candidate':
            pid = m.get('from')
            link = self.links.get(pid)
            if link is None or not link.remote_set:
                if link is None:
                    self.pending_by_peer.setdefault(pid, []).append(m)
                else:
                    link.pending.append(m)
                vlog(f'candidate from {pid} kept until its description is applied')
                return
            await self.add_candidate(link, m)
        elif t == 'error':
            log(f'signaling error {m.get("code")}: {m.get("message")}')
            if m.get('code') != 'unknown-peer':
                self.fail(f'signaling error {m.get("code")}: {m.get("message")}')

    # ----- media (media-echo) -----
    def add_media(self, link):
        """Our tracks: a video whose picture moves (so that every frame is a real one to encode) and a tone."""
        if link.media_added:
            return
        link.media_added = True
        link.pc.addTrack(ToneTrack())
        link.pc.addTrack(MovingVideoTrack())

    async def consume(self, link, track):
        """Counts what comes back decoded; passes when enough of both kinds did."""
        counts = link.media_counts
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            counts[track.kind] = counts.get(track.kind, 0) + 1
            if track.kind == 'video':
                counts['size'] = f'{frame.width}x{frame.height}'
            if (counts.get('video', 0) >= MEDIA_VIDEO_FRAMES and counts.get('audio', 0) >= MEDIA_AUDIO_FRAMES and
                    not link.media_passed):
                link.media_passed = True
                if counts['size'] != f'{MovingVideoTrack.WIDTH}x{MovingVideoTrack.HEIGHT}':
                    return self.fail(f'the echoed video is {counts["size"]}, ours is '
                                     f'{MovingVideoTrack.WIDTH}x{MovingVideoTrack.HEIGHT}')
                self.finish(0, f'PASS {args.scenario} video {counts["video"]} {counts["size"]} audio {counts["audio"]}')

    # ----- peer connections -----
    def new_link(self, remote):
        link = Link(remote)
        servers = []
        for s in self.ice_servers:
            servers.append(RTCIceServer(urls=s.get('urls'), username=s.get('username'), credential=s.get('credential')))
        link.pc = RTCPeerConnection(RTCConfiguration(iceServers=servers))   # always explicit: [] here
        link.pending = self.pending_by_peer.pop(remote, [])
        self.links[remote] = link
        pc = link.pc

        @pc.on('connectionstatechange')
        def _state():
            log(f'peer {remote}: connection {pc.connectionState}')
            if pc.connectionState == 'failed' and args.scenario not in WAITING_MODES:
                self.fail(f'connection to {remote} failed')
            if pc.connectionState == 'connected' and self.relay is not None:
                self.check_relay_pair(link)

        @pc.on('datachannel')
        def _dc(ch):
            self.on_channel(link, ch)

        @pc.on('track')
        def _track(track):
            log(f'peer {remote}: a {track.kind} track')
            if args.scenario in MEDIA_SCENARIOS:
                asyncio.ensure_future(self.guard(self.consume(link, track)))

        return link

    def check_relay_pair(self, link):
        """With --relay: the pair aioice nominated must lead to a relay socket (aiortc 1.4 / aioice 0.8 internals)."""
        try:
            conn = link.pc.sctp.transport.transport._connection
            pairs = list(conn._nominated.values())
        except AttributeError as e:
            return self.fail(f'cannot inspect the selected ICE pair: {e}')
        if not pairs:
            return self.fail(f'connected to {link.remote}, but no nominated ICE pair')
        relay_addrs = self.relay.relay_addresses()
        for pair in pairs:
            local, remote = pair.local_addr, pair.remote_addr
            if (remote[0], remote[1]) not in relay_addrs:
                return self.fail(f'the selected pair {local} -> {remote} bypasses the relay {sorted(relay_addrs)}')
            out(f'selected pair {local[0]}:{local[1]} -> {remote[0]}:{remote[1]} (a relay socket)')

    async def send_description(self, link):
        d = link.pc.localDescription
        sdp, cands = split_sdp(d.sdp)
        if self.relay is not None:
            # Our real addresses never leave this process: the other peer learns the relay's sockets instead.
            mapped = []
            for c, mid, idx in cands:
                new = await self.relay.rewrite_candidate(c, self.relay.map_local)
                if new is None:
                    log(f'not signaled (the relay carries UDP only): {c}')
                    continue
                vlog(f'relay: our {c} -> {new}')
                mapped.append((new, mid, idx))
            cands = mapped
            sdp = await self.relay.rewrite_sdp(sdp, self.relay.map_local)
        await self.send({'type': d.type, 'to': link.remote, 'sdp': sdp})
        mid, idx = '0', 0
        for c, mid, idx in cands:
            await self.send({'type': 'candidate', 'to': link.remote, 'candidate': c, 'sdpMid': mid, 'sdpMLineIndex': idx})
        await self.send({'type': 'candidate', 'to': link.remote, 'candidate': '', 'sdpMid': mid, 'sdpMLineIndex': idx})
        vlog(f'sent {d.type} and {len(cands)} candidates to {link.remote}: {[c for c, _, _ in cands]}')

    async def offer_to(self, remote):
        link = self.new_link(remote)
        ch = link.pc.createDataChannel('data')
        self.on_channel(link, ch)
        if args.scenario in MEDIA_SCENARIOS:
            self.add_media(link)
        await link.pc.setLocalDescription(await link.pc.createOffer())
        await self.send_description(link)

    async def on_description(self, remote, kind, sdp):
        if not remote:
            return
        link = self.links.get(remote)
        if kind == 'offer':
            if link is not None and link.remote_set:
                log(f'a second offer from {remote} (renegotiation) is not supported by this harness')
                return
            link = link or self.new_link(remote)
            if self.relay is not None:
                sdp = await self.relay.rewrite_sdp(sdp, self.relay.map_remote)
            await link.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type='offer'))
            link.remote_set = True
            if args.scenario in MEDIA_SCENARIOS:
                self.add_media(link)   # aiortc 1.4 puts them on the offer's transceivers of their kind
            await link.pc.setLocalDescription(await link.pc.createAnswer())
            await self.send_description(link)
        else:
            if link is None:
                log(f'an answer from {remote}, to whom nothing was offered')
                return
            if self.relay is not None:
                sdp = await self.relay.rewrite_sdp(sdp, self.relay.map_remote)
            await link.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type='answer'))
            link.remote_set = True
        pending, link.pending = link.pending, []
        for m in pending:
            await self.add_candidate(link, m)

    async def add_candidate(self, link, m):
        c = m.get('candidate') or ''
        sctp = link.pc.sctp
        if c == '':
            # aiortc 1.4 has no public end-of-candidates call; its ICE transport takes None for it.
            if sctp is not None and not link.ended_remote:
                link.ended_remote = True
                await sctp.transport.transport.addRemoteCandidate(None)
            return
        text = c[2:] if c.startswith('a=') else c
        text = text[len('candidate:'):] if text.startswith('candidate:') else text
        try:
            if self.relay is not None:
                mapped = await self.relay.rewrite_candidate(text, self.relay.map_remote)
                if mapped is None:
                    log(f'ignored (the relay carries UDP only): {c}')
                    return
                vlog(f'relay: their {c} -> {mapped}')
                text = mapped
            cand = candidate_from_sdp(text)
        except Exception as e:  # noqa: BLE001
            log(f'unparsable candidate from {link.remote}: {c!r} ({e})')
            return
        mid = m.get('sdpMid')
        if sctp is not None and mid is not None and mid != sctp.mid:
            log(f'candidate from {link.remote} for sdpMid {mid!r}, but the data m-line is {sctp.mid!r}')
        cand.sdpMid = mid if mid is not None else (sctp.mid if sctp is not None else '0')
        cand.sdpMLineIndex = m.get('sdpMLineIndex', 0)
        if link.ended_remote:
            log(f'candidate from {link.remote} after its end-of-candidates: {c}')
            return
        await link.pc.addIceCandidate(cand)

    # ----- data channels -----
    def on_channel(self, link, ch):
        label = ch.label
        vlog(f'channel {label!r} from/to {link.remote}, state {ch.readyState}')
        queue = asyncio.Queue()
        unsent = []   # echoes of messages that came before our channel was open (see below)

        @ch.on('message')
        def _msg(data):
            if args.scenario != 'echo-server':
                queue.put_nowait(data)
                return
            # A peer may send its first message before its DCEP ACK (werift 0.24.4 does, on channels we
            # opened): aiortc 1.4 delivers it while the channel is still 'connecting' and raises on send().
            # An exception here would also kill aiortc's DTLS receive loop, so none may escape.
            if ch.readyState != 'open':
                log(f'a message on {label!r} before the channel was open (data before the DCEP ACK)')
                unsent.append(data)
                return
            try:
                ch.send(data)
            except Exception as e:  # noqa: BLE001
                log(f'echo on {label!r}: {type(e).__name__}: {e}')

        @ch.on('close')
        def _close():
            queue.put_nowait(None)

        def opened():
            log(f'channel {label!r} open with {link.remote}')
            while unsent:
                ch.send(unsent.pop(0))
            if label == 'data':
                if args.scenario == 'echo':
                    asyncio.ensure_future(self.guard(self.echo_client(ch, queue)))
                elif args.scenario == 'lossy-unordered' and not self.started_lossy:
                    self.started_lossy = True
                    asyncio.ensure_future(self.guard(self.lossy_unordered(link, ch, queue)))
                elif args.scenario in ('send-file', 'file-sender') and not self.started_file:
                    self.started_file = True
                    asyncio.ensure_future(self.guard(self.send_file(link)))
            elif label.startswith('file') and args.scenario in RECEIVE_FILE:
                asyncio.ensure_future(self.guard(self.receive_file(ch, queue)))

        if ch.readyState == 'open':
            opened()
        else:
            ch.on('open', opened)

    async def guard(self, coro):
        try:
            await coro
        except Exception as e:  # noqa: BLE001
            self.fail(f'{type(e).__name__}: {e}')

    async def echo_client(self, ch, queue):
        cases = [
            ('text "hello"', 'hello'),
            ('1 KiB binary', os.urandom(1024)),
            ('256 KiB random binary', os.urandom(256 * 1024)),
        ]
        if args.skip_empty:
            log('--skip-empty: no empty messages')
        else:
            cases += [('empty text', ''), ('empty binary', b'')]
        cases += [
            ('non-ASCII text', 'h\u00e9llo \u2713 \U0001f600'),
        ]
        for what, data in cases:
            ch.send(data)
            try:
                got = await asyncio.wait_for(queue.get(), 20)
            except asyncio.TimeoutError:
                return self.fail(f'no echo of the {what} within 20 s')
            if got is None:
                return self.fail(f'the data channel closed while waiting for the echo of the {what}')
            if type(got) is not type(data):
                return self.fail(f'the echo of the {what} came back as {type(got).__name__}, sent {type(data).__name__}')
            if got != data:
                return self.fail(f'the echo of the {what} differs ({len(got)} bytes back, {len(data)} sent)')
            log(f'echo ok: {what} ({len(data)} {"bytes" if isinstance(data, bytes) else "chars"})')
        self.finish(0, 'PASS echo')

    async def lossy_unordered(self, link, data_ch, data_queue):
        n = LOSSY_COUNT
        ch = link.pc.createDataChannel('lossy', ordered=False, maxRetransmits=0)
        got, dups, late, bad = [], 0, [], []
        seen = set()
        opened = asyncio.Event()
        marker_back = asyncio.Event()

        @ch.on('message')
        def _msg(m):
            nonlocal dups
            try:
                if not isinstance(m, str) or not m.startswith('lossy '):
                    raise ValueError
                i = int(m[6:])
                if not 0 <= i < n:
                    raise ValueError
            except ValueError:
                bad.append(m if isinstance(m, str) else f'<{len(m)} bytes>')
                return
            if i in seen:
                dups += 1
            seen.add(i)
            got.append(i)
            if marker_back.is_set():
                late.append(i)

        ch.on('open', opened.set)
        try:
            await asyncio.wait_for(opened.wait(), 20)
        except asyncio.TimeoutError:
            return self.fail('the `lossy` channel did not open within 20 s')
        log(f'channel lossy open with {link.remote} (ordered=False, maxRetransmits=0): '
            f'sending {n} messages {LOSSY_GAP * 1000:g} ms apart')
        t0 = self.loop.time()
        for i in range(n):
            if ch.readyState != 'open':
                return self.fail(f'the `lossy` channel is {ch.readyState} after {i} messages')
            ch.send(f'lossy {i}')
            await asyncio.sleep(LOSSY_GAP)
        for _ in range(200):                       # until aiortc has put them all on the wire (<= 10 s)
            if ch.bufferedAmount == 0:
                break
            await asyncio.sleep(0.05)
        log(f'sent {n} in {self.loop.time() - t0:.2f} s (bufferedAmount now {ch.bufferedAmount}); '
            f'{len(seen)} echoes so far; marker on `data`')
        marker = f'marker after {n} lossy messages'
        data_ch.send(marker)
        try:
            back = await asyncio.wait_for(data_queue.get(), 20)
        except asyncio.TimeoutError:
            return self.fail(f'no echo of the marker on the reliable `data` channel within 20 s '
                             f'({len(seen)} of {n} lossy echoes had come)')
        if back != marker:
            return self.fail(f'the reliable channel echoed {back!r}, expected {marker!r}')
        marker_back.set()
        log(f'marker echoed on `data` {self.loop.time() - t0:.2f} s after the first lossy message; '
            f'{len(seen)} lossy echoes so far')
        await asyncio.sleep(1.0)                   # stragglers on `lossy` still count, but must not be needed
        x = len(seen)
        lost = sorted(set(range(n)) - seen)
        inversions = sum(1 for a, b in zip(got, got[1:]) if b < a)
        log(f'lossy echoes: {x} of {n}, {dups} duplicates, {len(late)} after the marker, {inversions} out of '
            f'order; lost: {lost[:40]}{" ..." if len(lost) > 40 else ""}')
        if bad:
            return self.fail(f'unexpected messages on `lossy`: {bad[:5]}')
        if dups:
            return self.fail(f'{dups} duplicate echoes on `lossy` (maxRetransmits=0 must not deliver twice)')
        if x >= n:
            return self.fail(f'all {n} echoes came back: nothing was lost, is the relay lossy?')
        if x <= n // 2:
            return self.fail(f'only {x} of {n} echoes came back (expected about 90 % with 5 % loss each way)')
        if not any(i > lost[0] for i in seen):
            return self.fail(f'nothing came back after the first lost message #{lost[0]}: the channel stalled')
        out(f'lossy-unordered: first lost #{lost[0]}, last echoed #{max(seen)}, {len(lost)} lost, '
            f'{inversions} out of order, {len(late)} after the marker')
        self.finish(0, f'PASS lossy-unordered got {x} of {n}')

    async def send_file(self, link):
        path = args.file
        size = os.path.getsize(path)
        digest = file_sha256(path)
        ch = link.pc.createDataChannel('file-1')
        replies = asyncio.Queue()
        ch.on('message', lambda d: replies.put_nowait(d))
        ch.on('close', lambda: replies.put_nowait(None))
        opened = asyncio.Event()
        ch.on('open', opened.set)
        low = asyncio.Event()
        ch.on('bufferedamountlow', low.set)
        ch.bufferedAmountLowThreshold = LOW_THRESHOLD
        await opened.wait()
        log(f'channel file-1 open with {link.remote}: sending {size} bytes, sha256 {digest}')
        ch.send(json.dumps({'type': 'file', 'name': os.path.basename(path), 'size': size, 'sha256': digest}))
        sent = 0
        with open(path, 'rb') as f:
            while True:
                chunk = f.read(CHUNK)
                if not chunk:
                    break
                while ch.bufferedAmount > HIGH_WATER:
                    low.clear()
                    await low.wait()
                if not replies.empty():
                    break          # an early file-error (or the channel closed)
                ch.send(chunk)
                sent += len(chunk)
        ch.send(json.dumps({'type': 'file-end'}))
        vlog(f'sent {sent} bytes and file-end, waiting for the answer')
        while True:
            r = await replies.get()
            if r is None:
                return self.fail('the file channel closed before file-ok arrived')
            if isinstance(r, bytes):
                continue
            try:
                m = json.loads(r)
            except ValueError:
                return self.fail(f'the receiver sent a text that is not JSON: {r[:100]!r}')
            if m.get('type') == 'file-ok':
                if m.get('sha256') != digest:
                    return self.fail(f'file-ok with sha256 {m.get("sha256")}, expected {digest}')
                ch.close()
                if args.scenario == 'file-sender':
                    log(f'sent {size} bytes, sha256 {digest} confirmed')
                    self.finish(0, f'sent {size} bytes sha256 {digest} confirmed')
                else:
                    self.finish(0, 'PASS send-file')
                return
            if m.get('type') == 'file-error':
                return self.fail(f'the receiver refused the file: {m.get("reason")}: {m.get("message")}')
            return self.fail(f'unexpected answer on the file channel: {r[:100]!r}')

    async def receive_file(self, ch, queue):
        hdr, got, h, fh, tmp = None, 0, None, None, None

        def refuse(reason, message):
            if ch.readyState == 'open':
                ch.send(json.dumps({'type': 'file-error', 'reason': reason, 'message': message}))
            if fh:
                fh.close()
                os.unlink(tmp)
            return f'refused ({reason}): {message}'

        while True:
            data = await queue.get()
            if data is None:
                why = 'closed: the channel closed midway'
                if fh:
                    fh.close()
                    os.unlink(tmp)
                break
            if isinstance(data, bytes):
                if hdr is None:
                    why = refuse('protocol', 'data before the header')
                    break
                if len(data) > CHUNK:
                    log(f'a chunk of {len(data)} bytes (the protocol says at most {CHUNK})')
                if got + len(data) > hdr['size']:
                    why = refuse('size', f'more bytes than announced ({got + len(data)} > {hdr["size"]})')
                    break
                h.update(data)
                got += len(data)
                if fh:
                    fh.write(data)
                continue
            try:
                m = json.loads(data)
            except ValueError:
                why = refuse('protocol', 'a text message that is not JSON')
                break
            if not isinstance(m, dict):
                why = refuse('protocol', 'a text message that is not a JSON object')
                break
            if m.get('type') == 'file' and hdr is None:
                size, sha = m.get('size'), m.get('sha256')
                if not isinstance(size, int) or isinstance(size, bool) or size < 0 or not isinstance(sha, str) \
                        or len(sha) != 64 or any(c not in '0123456789abcdef' for c in sha):
                    why = refuse('protocol', f'bad header {data[:200]}')
                    break
                hdr = {'name': safe_name(m.get('name', 'file')), 'size': size, 'sha256': sha}
                h = hashlib.sha256()
                log(f'receiving {hdr["name"]}: {size} bytes, sha256 {sha}')
                if args.dir:
                    tmp = os.path.join(args.dir, f'.{hdr["name"]}.part')
                    fh = open(tmp, 'wb')
                continue
            if m.get('type') == 'file-end' and hdr is not None:
                if got != hdr['size']:
                    why = refuse('size', f'got {got} of {hdr["size"]} bytes')
                    break
                digest = h.hexdigest()
                if digest != hdr['sha256']:
                    why = refuse('sha256', f'expected {hdr["sha256"]}, got {digest}')
                    break
                if fh:
                    fh.close()
                    fh = None
                    os.replace(tmp, os.path.join(args.dir, hdr['name']))
                ch.send(json.dumps({'type': 'file-ok', 'sha256': digest}))
                self.rx_count += 1
                if args.scenario == 'file-receiver':
                    out(f'received {hdr["name"]} {got} bytes sha256 {digest}')
                    return
                # The sender closes the channel after file-ok; wait (briefly) so our answer is out before we go.
                # Should the sender leave the room first, that is fine now (see peer-left).
                self.pending_pass = f'PASS {args.scenario} {got} {digest}'
                try:
                    await asyncio.wait_for(self.wait_closed(queue), 5)
                except asyncio.TimeoutError:
                    log('the sender did not close the file channel within 5 s of file-ok')
                self.finish(0, f'PASS {args.scenario} {got} {digest}')
                return
            why = refuse('protocol', f'unexpected message {data[:100]!r}')
            break
        if args.scenario == 'file-receiver':
            log(f'file on channel {ch.label!r}: {why}')
        else:
            self.fail(f'file on channel {ch.label!r}: {why}')

    async def wait_closed(self, queue):
        while (await queue.get()) is not None:
            pass

    async def close_all(self):
        for link in list(self.links.values()):
            try:
                await asyncio.wait_for(link.pc.close(), 5)
            except Exception as e:  # noqa: BLE001
                log(f'closing the connection to {link.remote}: {type(e).__name__}: {e}')
        if self.ws is not None:
            try:
                await asyncio.wait_for(self.ws.close(), 2)
            except Exception:  # noqa: BLE001
                pass


def check_netns():
    names = [n for _, n in socket.if_nameindex()]
    if any(n != 'lo' for n in names) and not os.environ.get('RTC_ALLOW_ANY_NETNS'):
        print(f'FAIL {args.scenario}: refusing to run outside a loopback-only network namespace '
              f'(interfaces: {names}); run inside `unshare --net` with lo up', flush=True)
        sys.exit(2)


async def main():
    loop = asyncio.get_running_loop()
    peer = Peer(loop)

    def on_timeout():
        if args.scenario in WAITING_MODES:
            log(f'--timeout {args.timeout} s reached: stopping')
            peer.finish(0)
        else:
            peer.fail(f'timed out after {args.timeout} s')

    loop.call_later(args.timeout, on_timeout)
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda s=sig: (log(f'got {signal.Signals(s).name}'),
                                                    peer.finish(0) if args.scenario in WAITING_MODES
                                                    else peer.fail(f'interrupted by {signal.Signals(s).name}')))
    task = asyncio.ensure_future(peer.run_signaling())
    code = await peer.done
    await peer.close_all()
    task.cancel()
    if peer.relay is not None:
        for line in peer.relay.summary():
            out(line)
        peer.relay.close()
    return code


def parse():
    global args
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--signal', required=True)
    p.add_argument('--room', required=True)
    p.add_argument('--id')
    p.add_argument('--scenario', required=True, choices=SCENARIOS)
    p.add_argument('--file')
    p.add_argument('--dir')
    p.add_argument('--timeout', type=float, default=60)
    p.add_argument('--relay', metavar='SPEC',
                   help='a lossy UDP relay between the peers: "loss=0.05,delay_ms=20,reorder=0.05,seed=N"')
    p.add_argument('--skip-empty', action='store_true', help='echo: send no empty messages (for a werift echo-server)')
    p.add_argument('-v', '--verbose', action='store_true')
    args = p.parse_args()
    if args.scenario in ('send-file', 'file-sender') and not (args.file and os.path.isfile(args.file)):
        p.error(f'--scenario {args.scenario} needs --file PATH (a regular file)')
    if args.scenario == 'file-receiver' and not (args.dir and os.path.isdir(args.dir)):
        p.error('--scenario file-receiver needs --dir DIR (a directory)')
    if args.scenario.startswith('lossy-') and not args.relay:
        p.error(f'--scenario {args.scenario} needs --relay SPEC')
    if args.relay:
        try:
            RelayConfig.parse(args.relay)
        except ValueError as e:
            p.error(f'--relay: {e}')
    if args.dir and not os.path.isdir(args.dir):
        p.error(f'--dir {args.dir} is not a directory')


if __name__ == '__main__':
    parse()
    check_netns()
    # Last resort, should the event loop itself hang: the process ends 15 s after the timeout whatever happens.
    hard = threading.Timer(args.timeout + 15, lambda: (print(f'FAIL {args.scenario}: hard watchdog', flush=True),
                                                      os._exit(0 if args.scenario in WAITING_MODES else 1)))
    hard.daemon = True
    hard.start()
    rc = asyncio.run(main())
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(rc)   # aiortc can leave tasks behind (e.g. "protocol is shutdown" in SCTP); do not wait for them
