"""A lossy UDP relay between two WebRTC peers on 127.0.0.1, for tests where `tc netem` is not available.

    relay = LossyRelay(loop, RelayConfig.parse('loss=0.05,delay_ms=20,reorder=0.05,seed=7'), log,
                       names=('aiortc', 'other'))
    addr = await relay.map_remote(('127.0.0.1', 40000))   # a remote candidate -> what the local peer is told
    addr = await relay.map_local(('127.0.0.1', 50000))    # a local candidate  -> what the remote peer is told
    text = await relay.rewrite_candidate('candidate:1 1 udp 2130706431 127.0.0.1 40000 typ host', relay.map_remote)
    sdp = await relay.rewrite_sdp(sdp, relay.map_remote)
    print('\n'.join(relay.summary()))   # RELAY aiortc->other forwarded=… dropped=… stun=… dtls=… sctp=… …
    relay.close()

The two peers are called `local` (the process that owns the relay) and `remote` (the other one). For every real
candidate address of one peer the relay opens a UDP socket on 127.0.0.1 that faces the other peer and stands for
that address: the other peer is told only the socket's address, never the real one. A datagram that arrives on
such a socket from a real address of the facing peer goes out, after the impairment, from the socket that stands
for that sender (on the other side) to the real address the receiving socket stands for. So each peer sees the
other only at relay addresses, ICE checks (and everything after them) cross the relay, and a peer-reflexive
candidate never shows up. A datagram from a source the relay has not been told about is dropped and counted as
`unmapped` (like a NAT without a mapping): that happens when a peer starts its checks as soon as it has our
candidate, before its own candidate reached us (e.g. duplex-peer answering: its first STUN request races its
answer through the signaling server); the STUN retransmission that follows goes through.

Impairment, per direction, from a seeded random.Random:
  loss=P        drop each datagram with probability P
  delay_ms=D    hold each datagram D ms plus a jitter drawn uniformly from [0, jitter_ms] (default D/4); the
                jitter never reorders (a datagram never leaves before the one forwarded before it)
  reorder=R     with probability R a datagram is held a further D ms (at least 5 ms) outside that ordering, so
                the ones behind it overtake it
  seed=N        the random seed (default 1)
  loss_after=S  the random loss (not delay, nor the burst) only from S seconds after the first media datagram (so
                that the handshakes are through: a lost DTLS Finished costs a 1 s retransmission timer, and with
                it the media sent meanwhile, which a test of media repair has no use for)
  burst=S:MS    besides: every datagram both ways is dropped for MS milliseconds, S seconds after the first media
                datagram (SRTP/SRTCP: neither STUN nor DTLS) crossed the relay (counted as burst_dropped)
  rate_kbps=R   a bottleneck of R kbit/s each way (a datagram and its 28 bytes of IPv4 and UDP headers take their
                time to go through, one after the other), before the delay
  queue_ms=Q    the bottleneck's queue (default 250): a datagram that would wait longer is dropped (drop-tail,
                counted as queue_dropped); the longest wait is reported as max_queue_ms
Candidates that are not UDP are removed: the relay only carries UDP.
"""
import asyncio
import collections
import random

DEFAULTS = {'loss': 0.0, 'delay_ms': 0.0, 'jitter_ms': None, 'reorder': 0.0, 'seed': 1, 'burst': None,
            'loss_after': None, 'rate_kbps': None, 'queue_ms': 250}


class RelayConfig:
    def __init__(self, loss=0.0, delay_ms=0.0, jitter_ms=None, reorder=0.0, seed=1, burst=None, loss_after=None,
                 rate_kbps=None, queue_ms=250):
        self.loss = float(loss)
        self.rate_kbps = float(rate_kbps) if rate_kbps is not None else None
        self.queue_ms = float(queue_ms)
        if self.rate_kbps is not None and self.rate_kbps <= 0:
            raise ValueError('rate_kbps must be positive')
        self.loss_after_s = float(loss_after) if loss_after is not None else None
        self.burst_after_s = self.burst_ms = None
        if burst is not None:
            after, sep, length = str(burst).partition(':')
            if not sep:
                raise ValueError('burst is S:MS (seconds after the first media datagram, milliseconds long)')
            self.burst_after_s, self.burst_ms = float(after), float(length)
        self.delay_ms = float(delay_ms)
        self.jitter_ms = float(jitter_ms) if jitter_ms is not None else self.delay_ms / 4
        self.reorder = float(reorder)
        self.seed = int(seed)
        if not 0 <= self.loss < 1 or not 0 <= self.reorder < 1:
            raise ValueError('loss and reorder are probabilities in [0, 1)')
        if self.delay_ms < 0 or self.jitter_ms < 0:
            raise ValueError('delay_ms and jitter_ms must not be negative')

    @classmethod
    def parse(cls, spec):
        """'loss=0.05,delay_ms=20,reorder=0.05,seed=3' (any subset, any order)."""
        values = dict(DEFAULTS)
        for item in filter(None, (s.strip() for s in spec.split(','))):
            key, sep, value = item.partition('=')
            key = key.strip()
            if not sep or key not in DEFAULTS:
                raise ValueError(f'bad relay setting {item!r} (known: {", ".join(DEFAULTS)})')
            values[key] = value.strip()
        return cls(**values)

    def __str__(self):
        burst = f' burst={self.burst_after_s:g}:{self.burst_ms:g}' if self.burst_ms is not None else ''
        if self.loss_after_s is not None:
            burst += f' loss_after={self.loss_after_s:g}'
        if self.rate_kbps is not None:
            burst += f' rate_kbps={self.rate_kbps:g} queue_ms={self.queue_ms:g}'
        return (f'loss={self.loss:g} delay_ms={self.delay_ms:g} jitter_ms={self.jitter_ms:g} '
                f'reorder={self.reorder:g} seed={self.seed}{burst}')


def kind_of(data):
    """RFC 7983 demultiplexing by the first byte; DTLS records by content type (23 = application data: SCTP)."""
    if not data:
        return 'other'
    b = data[0]
    if b < 4:
        return 'stun'
    if b == 23:
        return 'sctp'
    if 20 <= b <= 63:
        return 'dtls'
    return 'other'


class Direction:
    """Counters and ordering state of one direction (e.g. local->remote)."""

    def __init__(self, name):
        self.name = name
        self.forwarded = 0
        self.dropped = 0
        self.burst_dropped = 0
        self.reordered = 0
        self.queue_dropped = 0
        self.max_queue_ms = 0.0
        self.busy_until = 0.0  # when the bottleneck has sent what it holds
        self.bytes = 0
        self.kinds = {'stun': 0, 'dtls': 0, 'sctp': 0, 'other': 0}
        self.last_due = 0.0
        # In-order datagrams wait here (due times never decrease) and one timer releases them: asyncio's timer
        # heap does not keep the order of equal deadlines, so one timer per datagram would reorder them.
        self.fifo = collections.deque()
        self.timer = None

    def line(self):
        k = self.kinds
        return (f'{self.name} forwarded={self.forwarded} dropped={self.dropped} burst_dropped={self.burst_dropped} '
                f'reordered={self.reordered} queue_dropped={self.queue_dropped} max_queue_ms={self.max_queue_ms:.0f} '
                f'bytes={self.bytes} stun={k["stun"]} dtls={k["dtls"]} sctp={k["sctp"]} other={k["other"]}')


class _Endpoint(asyncio.DatagramProtocol):
    """One relay socket: faces `facing` and stands for the real address `stands_for` of the other peer."""

    def __init__(self, relay, facing, stands_for):
        self.relay = relay
        self.facing = facing
        self.stands_for = stands_for
        self.transport = None
        self.addr = None

    def connection_made(self, transport):
        self.transport = transport
        self.addr = transport.get_extra_info('sockname')[:2]

    def datagram_received(self, data, addr):
        self.relay._received(self, data, addr[:2])

    def error_received(self, exc):
        # ICMP port unreachable once a peer is gone, and the like: that is loss too.
        self.relay.errors += 1


class LossyRelay:
    def __init__(self, loop, config, log=None, host='127.0.0.1', names=('local', 'remote')):
        self.loop = loop
        self.config = config
        self.log = log or (lambda *a: None)
        self.host = host
        self.rng = random.Random(config.seed)
        # facing -> {real address of the other peer: endpoint}
        self.endpoints = {'local': {}, 'remote': {}}
        self.dirs = {'local': Direction(f'{names[0]}->{names[1]}'), 'remote': Direction(f'{names[1]}->{names[0]}')}
        self.unmapped = collections.Counter()   # kind -> datagrams from sources the relay knows nothing of
        self.errors = 0
        self.closed = False
        self.burst = None        # (start, end) in loop time, once the first media datagram came
        self.first_media = None  # loop time of the first media datagram

    # ----- addresses -----
    async def _endpoint(self, facing, real):
        real = (real[0], int(real[1]))
        ep = self.endpoints[facing].get(real)
        if ep is None:
            _, ep = await self.loop.create_datagram_endpoint(
                lambda: _Endpoint(self, facing, real), local_addr=(self.host, 0))
            self.endpoints[facing][real] = ep
            self.log(f'relay: {real[0]}:{real[1]} ({"remote" if facing == "local" else "local"} peer) is '
                     f'{ep.addr[0]}:{ep.addr[1]} to the {facing} peer')
        return ep

    async def map_remote(self, real):
        """The address the local peer is told for the remote peer's candidate `real`."""
        return (await self._endpoint('local', real)).addr

    async def map_local(self, real):
        """The address the remote peer is told for the local peer's candidate `real`."""
        return (await self._endpoint('remote', real)).addr

    def relay_addresses(self):
        return {ep.addr for side in self.endpoints.values() for ep in side.values()}

    def real_addresses(self):
        return {real for side in self.endpoints.values() for real in side}

    # ----- rewriting what the peers tell each other -----
    async def rewrite_candidate(self, text, mapper):
        """A candidate line ('candidate:…' or 'a=candidate:…') with its address replaced by mapper's; None for a
        candidate the relay cannot carry (not UDP). raddr/rport become the relay address too."""
        prefix = ''
        body = text
        for p in ('a=candidate:', 'candidate:'):
            if body.startswith(p):
                prefix, body = p, body[len(p):]
                break
        bits = body.split()
        if len(bits) < 8 or bits[6] != 'typ':
            raise ValueError(f'unparsable candidate {text!r}')
        if bits[2].lower() != 'udp':
            return None
        ip, port = await mapper((bits[4], int(bits[5])))
        bits[4], bits[5] = ip, str(port)
        for i in range(8, len(bits) - 1, 2):
            if bits[i] == 'raddr':
                bits[i + 1] = ip
            elif bits[i] == 'rport':
                bits[i + 1] = str(port)
        return prefix + ' '.join(bits)

    async def rewrite_sdp(self, sdp, mapper):
        """Every a=candidate line mapped (or removed); the m= port and c= address of a media section, when they
        name a real candidate address (the default candidate), mapped too; any other non-zero m= port becomes 9
        (no default candidate, as in trickle ICE)."""
        eol = '\r\n' if '\r\n' in sdp else '\n'
        lines = sdp.split(eol)
        out = []
        for ln in lines:
            if ln.startswith('a=candidate:'):
                new = await self.rewrite_candidate(ln, mapper)
                if new is not None:
                    out.append(new)
            else:
                out.append(ln)
        # m= / c= pairs: a section's c= follows its m= line (or the session's c= applies).
        session_c = None
        m_index = None
        c_of = {}
        for i, ln in enumerate(out):
            if ln.startswith('m='):
                m_index = i
            elif ln.startswith('c=IN IP4 ') or ln.startswith('c=IN IP6 '):
                if m_index is None:
                    session_c = i
                else:
                    c_of[m_index] = i
        for i, ln in enumerate(out):
            if not ln.startswith('m='):
                continue
            parts = ln.split(' ')
            port = int(parts[1].split('/')[0])
            if port in (0, 9):
                continue
            ci = c_of.get(i, session_c)
            ip = out[ci].split(' ')[2] if ci is not None else None
            known = self.endpoints['remote' if mapper == self.map_local else 'local']
            if ip is not None and (ip, port) in known:
                new_ip, new_port = await mapper((ip, port))
                parts[1] = str(new_port)
                out[ci] = ' '.join(out[ci].split(' ')[:2] + [new_ip])
            else:
                parts[1] = '9'
            out[i] = ' '.join(parts)
        return eol.join(out)

    # ----- forwarding -----
    def _received(self, ep, data, src):
        if self.closed:
            return
        # The sender `src` must be a real address of the peer that ep faces; it goes out from the socket that
        # stands for src on the other side, to the real address ep stands for.
        other = 'remote' if ep.facing == 'local' else 'local'
        out_ep = self.endpoints[other].get(src)
        if out_ep is None:
            self.unmapped[kind_of(data)] += 1
            return
        d = self.dirs[ep.facing]
        cfg = self.config
        now = self.loop.time()
        if self.first_media is None and kind_of(data) == 'other':
            self.first_media = now
            self.log('relay: first media datagram')
        if cfg.burst_ms is not None and self.first_media is not None:
            start = self.first_media + cfg.burst_after_s
            if start <= now < start + cfg.burst_ms / 1000:
                d.burst_dropped += 1
                return
        lossy = cfg.loss_after_s is None or (self.first_media is not None and now >= self.first_media + cfg.loss_after_s)
        if cfg.loss and lossy and self.rng.random() < cfg.loss:
            d.dropped += 1
            return
        now = self.loop.time()
        sent = now
        if cfg.rate_kbps is not None:
            start = max(now, d.busy_until)
            if start - now > cfg.queue_ms / 1000:
                d.queue_dropped += 1
                return
            d.max_queue_ms = max(d.max_queue_ms, (start - now) * 1000)
            d.busy_until = start + (len(data) + 28) * 8 / (cfg.rate_kbps * 1000)
            sent = d.busy_until
        d.forwarded += 1
        d.bytes += len(data)
        d.kinds[kind_of(data)] += 1
        due = sent + (cfg.delay_ms + (self.rng.uniform(0, cfg.jitter_ms) if cfg.jitter_ms else 0)) / 1000
        dst = ep.stands_for
        if cfg.reorder and self.rng.random() < cfg.reorder:
            # Held back outside the FIFO: the datagrams behind it overtake it.
            d.reordered += 1
            self.loop.call_at(due + max(cfg.delay_ms, 5) / 1000, self._send, out_ep, data, dst)
            return
        due = max(due, d.last_due)
        d.last_due = due
        if due <= now and not d.fifo:
            self._send(out_ep, data, dst)
            return
        d.fifo.append((due, out_ep, data, dst))
        if d.timer is None:
            d.timer = self.loop.call_at(d.fifo[0][0], self._release, d)

    def _release(self, d):
        d.timer = None
        now = self.loop.time()
        while d.fifo and d.fifo[0][0] <= now:
            _, ep, data, dst = d.fifo.popleft()
            self._send(ep, data, dst)
        if d.fifo:
            d.timer = self.loop.call_at(d.fifo[0][0], self._release, d)

    def _send(self, ep, data, dst):
        if self.closed or ep.transport is None or ep.transport.is_closing():
            return
        ep.transport.sendto(data, dst)

    # ----- the end -----
    def summary(self):
        unmapped = ' '.join(f'{k}={v}' for k, v in sorted(self.unmapped.items()))
        return [f'RELAY {d.line()}' for d in self.dirs.values()] + \
            [f'RELAY unmapped={sum(self.unmapped.values())}{f" ({unmapped})" if unmapped else ""} '
             f'socket-errors={self.errors} sockets={len(self.relay_addresses())}']

    def close(self):
        self.closed = True
        for d in self.dirs.values():
            if d.timer is not None:
                d.timer.cancel()
            d.fifo.clear()
        for side in self.endpoints.values():
            for ep in side.values():
                if ep.transport is not None:
                    ep.transport.close()
