// Synthetic media for the RTP-level peers (werift, node-datachannel), which have no codecs: VP8-shaped video frames
// and Opus-shaped audio packets of random bytes, packetized into RTP here, and the check that what comes back
// through duplex-peer --media-echo is byte for byte what was sent.
//
// A video frame is a VP8 frame tag (RFC 6386 §9.1: inverse key-frame bit, show_frame, first partition size) with,
// on a key frame (every KEY_INTERVAL frames), the start code 9d 01 2a and a 320x240 size, then random bytes: 400 to
// 4000 bytes for a delta frame, 6000 to 12000 for a key frame, so most frames span several packets. Packetized as
// RFC 7741 §4.2 (a 1-byte descriptor: S = 1 on the frame's first packet, PID 0; the marker bit on its last).
// An audio packet is an Opus TOC byte (RFC 6716 §3.1: config 15, 20 ms) and 40 to 160 random bytes, one per RTP
// packet (RFC 7587 §4.2). duplex does not decode either: what this checks is the transport (RTP, SRTP, SSRC and
// payload-type demux, reassembly), and that every frame that comes back whole is one that was sent (none corrupt).
'use strict';
const crypto = require('crypto');

const KEY_INTERVAL = 30;
const MAX_PAYLOAD = 1100;

function rtpPacket({ pt, seq, ts, ssrc, marker, payload }) {
  const h = Buffer.alloc(12);
  h[0] = 0x80;
  h[1] = (marker ? 0x80 : 0) | pt;
  h.writeUInt16BE(seq & 0xffff, 2);
  h.writeUInt32BE(ts >>> 0, 4);
  h.writeUInt32BE(ssrc >>> 0, 8);
  return Buffer.concat([h, payload]);
}

// RFC 3550 §5.1 (and RFC 8285's extension block): {pt, seq, ts, ssrc, marker, payload} or null (RTCP, or too short).
function parseRtp(b) {
  if (b.length < 12 || (b[0] >> 6) !== 2) return null;
  const pt = b[1] & 0x7f;
  if (b[1] >= 192 && b[1] <= 223) return null;   // RTCP (RFC 5761 §4)
  let off = 12 + 4 * (b[0] & 0x0f);
  if (b[0] & 0x10) {
    if (b.length < off + 4) return null;
    off += 4 + 4 * b.readUInt16BE(off + 2);
  }
  let end = b.length;
  if (b[0] & 0x20) end -= b[b.length - 1];
  if (off > end) return null;
  return { pt, seq: b.readUInt16BE(2), ts: b.readUInt32BE(4), ssrc: b.readUInt32BE(8), marker: !!(b[1] & 0x80),
    payload: b.subarray(off, end) };
}

function videoFrame(n) {
  const key = n % KEY_INTERVAL === 0;
  const size = key ? 6000 + crypto.randomInt(6000) : 400 + crypto.randomInt(3600);
  const f = crypto.randomBytes(size);
  const first = Math.min(size - 10, 3000);   // first partition size (19 bits)
  const tag = (key ? 0 : 1) | (1 << 4) | (first << 5);
  f[0] = tag & 0xff; f[1] = (tag >> 8) & 0xff; f[2] = (tag >> 16) & 0xff;
  if (key) { f[3] = 0x9d; f[4] = 0x01; f[5] = 0x2a; f.writeUInt16LE(320, 6); f.writeUInt16LE(240, 8); }
  return f;
}

function audioFrame() {
  const f = crypto.randomBytes(40 + crypto.randomInt(120));
  f[0] = (15 << 3);   // config 15 (hybrid, fullband, 20 ms), mono, one frame
  return f;
}

// RFC 7741 §4.2 payloads of one frame.
function vp8Payloads(frame) {
  const out = [];
  for (let off = 0; off < frame.length; off += MAX_PAYLOAD) {
    const d = Buffer.from([off === 0 ? 0x10 : 0x00]);
    out.push(Buffer.concat([d, frame.subarray(off, off + MAX_PAYLOAD)]));
  }
  return out;
}

// RFC 7741 §4.2: the descriptor's length (X, then I/L/T/K with M for a 15-bit picture id), 0 if malformed.
function vp8DescriptorLength(p) {
  if (p.length < 1) return 0;
  let n = 1;
  if (p[0] & 0x80) {
    if (p.length < 2) return 0;
    const x = p[1];
    n = 2;
    if (x & 0x80) { if (p.length < n + 1) return 0; n += (p[n] & 0x80) ? 2 : 1; }
    if (x & 0x40) n += 1;
    if (x & 0x30) n += 1;
  }
  return p.length > n ? n : 0;
}

// Sends synthetic frames on two streams through `send(kind, rtpBuffer)`; payload types and SSRCs from `streams`
// ({video: {pt, ssrc}, audio: {pt, ssrc}}). Remembers what it sent, by SHA-1.
class Sender {
  constructor(streams, send) {
    this.streams = streams;
    this.send = send;
    this.sent = { video: new Set(), audio: new Set() };
    this.count = { video: 0, audio: 0 };
    this.seq = { video: crypto.randomInt(65536), audio: crypto.randomInt(65536) };
    this.ts = { video: crypto.randomInt(2 ** 31), audio: crypto.randomInt(2 ** 31) };
    this.timers = [];
  }
  start() {
    if (this.timers.length) return;
    if (this.streams.video) this.timers.push(setInterval(() => this.sendVideo(), 33));
    if (this.streams.audio) this.timers.push(setInterval(() => this.sendAudio(), 20));
  }
  stop() { for (const t of this.timers) clearInterval(t); this.timers = []; }
  sendVideo() {
    const s = this.streams.video;
    const f = videoFrame(this.count.video++);
    this.sent.video.add(sha1(f));
    const payloads = vp8Payloads(f);
    payloads.forEach((p, i) => this.send('video', rtpPacket({ pt: s.pt, seq: this.seq.video++, ts: this.ts.video,
      ssrc: s.ssrc, marker: i === payloads.length - 1, payload: p })));
    this.ts.video = (this.ts.video + 3000) >>> 0;
  }
  sendAudio() {
    const s = this.streams.audio;
    const f = audioFrame();
    this.count.audio++;
    this.sent.audio.add(sha1(f));
    this.send('audio', rtpPacket({ pt: s.pt, seq: this.seq.audio++, ts: this.ts.audio, ssrc: s.ssrc, marker: false, payload: f }));
    this.ts.audio = (this.ts.audio + 960) >>> 0;
  }
}

// Reassembles what comes back and compares it with what `sender` sent: `matched` frames were sent, `corrupt` ones
// are whole (first packet to marker, no gap) but were never sent.
class EchoCheck {
  constructor(sender) {
    this.sender = sender;
    this.matched = { video: 0, audio: 0 };
    this.corrupt = { video: 0, audio: 0 };
    this.packets = { video: 0, audio: 0 };
    this.pending = new Map();   // video timestamp -> Map(seq -> payload)
  }
  onPacket(kind, p) {
    this.packets[kind]++;
    if (kind === 'audio') return this.frame('audio', p.payload);
    let parts = this.pending.get(p.ts);
    if (!parts) { parts = new Map(); this.pending.set(p.ts, parts); }
    parts.set(p.seq, p);
    if (this.pending.size > 64) this.pending.delete(this.pending.keys().next().value);
    // Whole when the packets from one with S = 1 to the marker are all there.
    const list = [...parts.values()];
    const first = list.find((x) => (x.payload[0] & 0x10) && (x.payload[0] & 0x07) === 0);
    const last = list.find((x) => x.marker);
    if (!first || !last) return;
    const n = ((last.seq - first.seq) & 0xffff) + 1;
    if (n > parts.size) return;
    const chunks = [];
    for (let i = 0; i < n; i++) {
      const x = parts.get((first.seq + i) & 0xffff);
      if (!x) return;
      const d = vp8DescriptorLength(x.payload);
      if (!d) { this.corrupt.video++; this.pending.delete(p.ts); return; }
      chunks.push(x.payload.subarray(d));
    }
    this.pending.delete(p.ts);
    this.frame('video', Buffer.concat(chunks));
  }
  frame(kind, data) {
    if (this.sender.sent[kind].has(sha1(data))) this.matched[kind]++;
    else this.corrupt[kind]++;
  }
}

const sha1 = (b) => crypto.createHash('sha1').update(b).digest('hex');

// The payload type of `codec` (e.g. 'VP8', 'opus') in the m= section of `kind` (or with a=mid:`mid`) of an SDP.
function payloadType(sdp, kind, codec, mid) {
  const sections = sdp.split(/\r?\nm=/).slice(1).map((s) => 'm=' + s);
  for (const s of sections) {
    if (!s.startsWith(`m=${kind} `)) continue;
    if (mid != null && !new RegExp(`^a=mid:${mid}\\s*$`, 'm').test(s)) continue;
    const m = new RegExp(`^a=rtpmap:(\\d+) ${codec}/`, 'mi').exec(s);
    if (m) return +m[1];
  }
  return null;
}

module.exports = { Sender, EchoCheck, parseRtp, payloadType };
