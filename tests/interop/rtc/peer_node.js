#!/usr/bin/env node
// A foreign WebRTC peer in Node, werift 0.24.4 or node-datachannel 0.33.4 (libdatachannel 0.24.5), that speaks
// duplex's signaling protocol (docs/signaling.md) and file-transfer protocol (docs/file-transfer.md).
//
//   node peer_node.js --lib werift|ndc --signal ws://127.0.0.1:PORT/signal --room R [--id NAME] [--timeout S] [-v]
//                     --scenario SCENARIO [--file PATH] [--dir DIR]
//
// Scenarios (the other side is duplex-peer, or another foreign peer standing in for it):
//   echo           the other side echoes: text "hello", 1 KiB binary, 256 KiB random binary, empty text and empty
//                  binary (ndc only: werift sends empty messages as zero-length DATA chunks, not with the empty
//                  PPIDs of RFC 8831; --skip-empty leaves them out for any lib, e.g. against a werift echo-server),
//                  non-ASCII text; each echo must be identical and of the same type. `PASS echo`
//   receive-file   accept the `file-…` channel, hash as chunks arrive, answer file-ok / file-error;
//                  `PASS receive-file SIZE SHA256` (the file is also stored in --dir if given)
//   send-file      once `data` is open, open `file-1` and send --file with bufferedAmount flow control; needs file-ok
//                  with our digest. `PASS send-file`
//   media-echo     the other side sends every track back (duplex-peer --media-echo): a video and an audio track
//                  (sendrecv, VP8 and Opus) carry synthetic frames (synthetic_media.js: neither library has codecs);
//                  needs MEDIA_VIDEO_FRAMES video and MEDIA_AUDIO_FRAMES audio frames back whole and byte for byte
//                  as sent, and none whole but different. `PASS media-echo video N audio M`
// Stand-in modes (as duplex-peer --echo / --send-file / --receive-dir): echo-server, file-sender --file F,
// file-receiver --dir D (prints `received NAME SIZE bytes sha256 HEX`). echo-server and file-receiver end with
// exit 0 at --timeout or on SIGTERM; the others exit 1 with a FAIL line at --timeout (default 60 s).
//
// Signaling: join; offer to each peer in `peers` (the `data` channel is created first); answer later joiners;
// candidates trickle both ways as `candidate` messages ("" = end of candidates). Candidate lines in our own SDP are
// moved into `candidate` messages too, so the other side always gets candidates by trickle. Remote candidates that
// arrive before their description are kept until it is applied.
// ICE: iceServers [] (the joined message's, which is [] here). werift: iceUseIpv6 false and
// iceAdditionalHostAddresses ['127.0.0.1'] (it skips loopback NICs); ndc: bindAddress '127.0.0.1'.
// Both announce max-message-size 262144 (werift's default is 65536). Refuses to run where any interface other than
// lo exists (use a loopback-only network namespace).
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const os = require('os');
const path = require('path');

const SCENARIOS = ['echo', 'receive-file', 'send-file', 'media-echo', 'echo-server', 'file-sender', 'file-receiver'];
const MEDIA_VIDEO_FRAMES = 60, MEDIA_AUDIO_FRAMES = 100;   // media-echo: 2 s of each come back
const WAITING = ['echo-server', 'file-receiver'];
const CHUNK = 65536, LOW_THRESHOLD = 256 * 1024, HIGH_WATER = 1024 * 1024, MAX_MESSAGE_SIZE = 262144;

function usage(msg) {
  process.stderr.write(`${msg ? msg + '\n' : ''}usage: peer_node.js --lib werift|ndc --signal URL --room R [--id NAME] ` +
    `--scenario ${SCENARIOS.join('|')} [--file PATH] [--dir DIR] [--timeout S] [--skip-empty] [-v]\n`);
  process.exit(2);
}
const opt = { timeout: 60, verbose: false };
{
  const a = process.argv.slice(2);
  for (let i = 0; i < a.length; i++) {
    const k = a[i];
    const val = () => { if (i + 1 >= a.length) usage(`${k} needs a value`); return a[++i]; };
    if (k === '--lib') opt.lib = val();
    else if (k === '--signal') opt.signal = val();
    else if (k === '--room') opt.room = val();
    else if (k === '--id') opt.id = val();
    else if (k === '--scenario') opt.scenario = val();
    else if (k === '--file') opt.file = val();
    else if (k === '--dir') opt.dir = val();
    else if (k === '--timeout') opt.timeout = +val();
    else if (k === '--skip-empty') opt.skipEmpty = true;
    else if (k === '-v' || k === '--verbose') opt.verbose = true;
    else usage(`unknown argument ${k}`);
  }
  if (!['werift', 'ndc'].includes(opt.lib)) usage('--lib must be werift or ndc');
  if (!opt.signal || !opt.room) usage('--signal and --room are required');
  if (!SCENARIOS.includes(opt.scenario)) usage(`--scenario must be one of ${SCENARIOS.join(', ')}`);
  if (['send-file', 'file-sender'].includes(opt.scenario) && !(opt.file && fs.statSync(opt.file, { throwIfNoEntry: false })?.isFile()))
    usage(`--scenario ${opt.scenario} needs --file PATH (a regular file)`);
  if (opt.scenario === 'file-receiver' && !opt.dir) usage('--scenario file-receiver needs --dir DIR');
  if (opt.dir && !fs.statSync(opt.dir, { throwIfNoEntry: false })?.isDirectory()) usage(`--dir ${opt.dir} is not a directory`);
  if (!(opt.timeout > 0)) usage('--timeout must be a positive number of seconds');
}
const NAME = `peer_node/${opt.lib}`;
const log = (...a) => process.stderr.write(`[${NAME}] ${a.join(' ')}\n`);
const vlog = (...a) => { if (opt.verbose) log(...a); };
const out = (line) => process.stdout.write(line + '\n');

{
  const ifs = Object.keys(os.networkInterfaces());
  if (ifs.some(n => n !== 'lo') && !process.env.RTC_ALLOW_ANY_NETNS) {
    out(`FAIL ${opt.scenario}: refusing to run outside a loopback-only network namespace (interfaces: ${ifs}); ` +
      'run inside `unshare --net` with lo up');
    process.exit(2);
  }
}

let WebSocket, werift, ndc;
const media = require('./synthetic_media.js');
const MEDIA = opt.scenario === 'media-echo';
try {
  WebSocket = require('ws');
  if (opt.lib === 'werift') werift = require('werift');
  else ndc = require('node-datachannel');
} catch (e) {
  out(`FAIL ${opt.scenario}: ${e.message}: run 'npm ci' in ${path.resolve(__dirname, '..')} first`);
  process.exit(1);
}

// ---------------------------------------------------------------------------------------------------------------
// A small common face over the two libraries. A channel: label, isOpen(), send(string | Buffer), bufferedAmount(),
// setLowThreshold(n), on('open' | 'message' | 'close' | 'low', cb), close(). A connection: createChannel(label),
// offer() / answer(offerSdp) / setAnswer(sdp) resolving to {type, sdp}, addCandidate({candidate, sdpMid,
// sdpMLineIndex}) with '' for the end, close(); its events: onCandidate(init | null for the end), onChannel(ch),
// onState(s).
class Chan {
  constructor(label) { this.label = label; this.handlers = { open: [], message: [], close: [], low: [] }; }
  on(ev, cb) { this.handlers[ev].push(cb); }
  emit(ev, arg) { for (const cb of this.handlers[ev]) cb(arg); }
}

function weriftChannel(dc) {
  const ch = new Chan(dc.label);
  ch.canSendEmpty = false;   // werift 0.24.4 sends '' as PPID 51 with no user data, not as PPID 56/57
  ch.isOpen = () => dc.readyState === 'open';
  ch.send = (d) => dc.send(d);
  ch.bufferedAmount = () => dc.bufferedAmount;
  ch.setLowThreshold = (n) => { dc.bufferedAmountLowThreshold = n; };
  ch.close = () => dc.close();
  dc.stateChanged.subscribe((s) => { if (s === 'open') ch.emit('open'); else if (s === 'closed') ch.emit('close'); });
  dc.onMessage.subscribe((m) => ch.emit('message', m));
  dc.bufferedAmountLow.subscribe(() => ch.emit('low'));
  return ch;
}

function ndcChannel(dc) {
  const ch = new Chan(dc.getLabel());
  ch.canSendEmpty = true;
  ch.isOpen = () => dc.isOpen();
  ch.send = (d) => (typeof d === 'string' ? dc.sendMessage(d) : dc.sendMessageBinary(d));
  ch.bufferedAmount = () => dc.bufferedAmount();
  ch.setLowThreshold = (n) => dc.setBufferedAmountLowThreshold(n);
  ch.close = () => dc.close();
  dc.onOpen(() => ch.emit('open'));
  dc.onClosed(() => ch.emit('close'));
  dc.onError((e) => log(`channel ${ch.label}: error ${e}`));
  dc.onMessage((m) => ch.emit('message', m));
  dc.onBufferedAmountLow(() => ch.emit('low'));
  return ch;
}

function weriftConnection(remote, iceServers, ev) {
  const pc = new werift.RTCPeerConnection({
    iceServers, iceUseIpv6: false, iceAdditionalHostAddresses: ['127.0.0.1'], maxMessageSize: MAX_MESSAGE_SIZE,
  });
  pc.onIceCandidate.subscribe((c) => ev.onCandidate(c && c.candidate
    ? { candidate: c.candidate, sdpMid: c.sdpMid, sdpMLineIndex: c.sdpMLineIndex } : null));
  pc.iceGatheringStateChange.subscribe((s) => { if (s === 'complete') ev.onCandidate(null); });
  pc.connectionStateChange.subscribe((s) => ev.onState(s));
  pc.onDataChannel.subscribe((dc) => ev.onChannel(weriftChannel(dc)));
  // media-echo: a track of each kind; werift writes its own SSRC, payload type and sequence offset on what is sent.
  const tracks = {};
  const addTracks = (transceivers) => {
    for (const kind of ['video', 'audio']) {
      tracks[kind] = new werift.MediaStreamTrack({ kind });
      if (transceivers) pc.addTransceiver(tracks[kind], { direction: 'sendrecv' });
      else pc.addTrack(tracks[kind]);
    }
  };
  if (MEDIA) {
    pc.onTrack.subscribe((track) => track.onReceiveRtp.subscribe((rtp) => ev.onRtp(track.kind, {
      pt: rtp.header.payloadType, seq: rtp.header.sequenceNumber, ts: rtp.header.timestamp, marker: rtp.header.marker,
      payload: rtp.payload })));
  }
  const desc = () => ({ type: pc.localDescription.type, sdp: pc.localDescription.sdp });
  return {
    createChannel: (label) => weriftChannel(pc.createDataChannel(label)),
    offer: async () => {
      if (MEDIA) addTracks(true);
      await pc.setLocalDescription(await pc.createOffer());
      return desc();
    },
    answer: async (sdp) => {
      await pc.setRemoteDescription({ type: 'offer', sdp });
      if (MEDIA) addTracks(false);
      await pc.setLocalDescription(await pc.createAnswer());
      return desc();
    },
    mediaStreams: () => ({ video: { pt: 0, ssrc: 0 }, audio: { pt: 0, ssrc: 0 } }),
    sendRtp: (kind, buf) => { if (tracks[kind]) tracks[kind].writeRtp(buf); },
    setAnswer: (sdp) => pc.setRemoteDescription({ type: 'answer', sdp }),
    addCandidate: (c) => pc.addIceCandidate(c),
    close: () => pc.close(),
  };
}

// libdatachannel 0.24.5 race (src/impl/peerconnection.cpp, checkFingerprint): when it applies an answer, the ICE
// transport gets the credentials before the description is stored for the DTLS fingerprint check, so a peer
// as fast as duplex on loopback can nominate, finish DTLS's first flight and have its certificate checked
// against no description at all ("DTLS alert: unknown CA"; seen once in ~50 runs). Only as the offerer, this
// harness turns libdatachannel's own check off; duplex still checks ndc's fingerprint, and ndc checks duplex's
// in the other role.
function ndcConnection(remote, iceServers, ev, offerer) {
  // libdatachannel takes ICE servers as URL strings; the ones in `joined` (none here) are stun: URLs at most.
  const urls = [];
  for (const s of iceServers) for (const u of [].concat(s.urls || [])) if (/^stun:/.test(u)) urls.push(u);
  const pc = new ndc.PeerConnection(`to-${remote}`, {
    iceServers: urls, bindAddress: '127.0.0.1', disableAutoNegotiation: true, maxMessageSize: MAX_MESSAGE_SIZE,
    disableFingerprintVerification: !!offerer,
  });
  pc.onLocalCandidate((candidate, mid) => ev.onCandidate({ candidate, sdpMid: mid, sdpMLineIndex: 0 }));
  pc.onGatheringStateChange((s) => { if (s === 'complete') ev.onCandidate(null); });
  pc.onStateChange((s) => ev.onState(s));
  pc.onDataChannel((dc) => ev.onChannel(ndcChannel(dc)));
  // media-echo: as the offerer a Video and an Audio of ours (VP8 96, Opus 111, our SSRCs signalled); as the
  // answerer the tracks of the offer, on which we send with SSRCs that are not signalled (libdatachannel's answer
  // has no a=ssrc for them): the receiver finds their m= section by payload type (RFC 8843 §9.2).
  const tracks = {}, ssrcs = { video: crypto.randomInt(1, 2 ** 32), audio: crypto.randomInt(1, 2 ** 32) };
  const useTrack = (kind, t) => {
    tracks[kind] = t;
    t.setMediaHandler(new ndc.RtcpReceivingSession());
    t.onMessage((buf) => { const p = media.parseRtp(buf); if (p) ev.onRtp(kind, p); });
  };
  if (MEDIA) pc.onTrack((t) => useTrack(t.type(), t));
  const desc = () => pc.localDescription();
  let closed = false;
  return {
    createChannel: (label) => ndcChannel(pc.createDataChannel(label)),
    offer: async () => {
      if (MEDIA) {
        const v = new ndc.Video('video', 'SendRecv');
        v.addVP8Codec(96);
        v.addSSRC(ssrcs.video, 'ndc', 'ndc-stream', 'ndc-video');
        useTrack('video', pc.addTrack(v));
        const a = new ndc.Audio('audio', 'SendRecv');
        a.addOpusCodec(111);
        a.addSSRC(ssrcs.audio, 'ndc', 'ndc-stream', 'ndc-audio');
        useTrack('audio', pc.addTrack(a));
      }
      pc.setLocalDescription();
      return desc();
    },
    mediaStreams: () => {
      const sdp = desc().sdp;
      const mid = (k) => (tracks[k] ? tracks[k].mid() : null);
      return { video: { pt: media.payloadType(sdp, 'video', 'VP8', mid('video')), ssrc: ssrcs.video },
        audio: { pt: media.payloadType(sdp, 'audio', 'opus', mid('audio')), ssrc: ssrcs.audio } };
    },
    sendRtp: (kind, buf) => { const t = tracks[kind]; if (t && t.isOpen()) t.sendMessageBinary(buf); },
    localSdp: () => desc().sdp,
    answer: async (sdp) => { pc.setRemoteDescription(sdp, 'offer'); pc.setLocalDescription(); return desc(); },
    setAnswer: async (sdp) => pc.setRemoteDescription(sdp, 'answer'),
    // libdatachannel has no end-of-candidates call: '' is dropped.
    addCandidate: async (c) => { if (c.candidate) pc.addRemoteCandidate(c.candidate, c.sdpMid == null ? '0' : String(c.sdpMid)); },
    close: () => { if (!closed) { closed = true; pc.close(); } },
  };
}

// ---------------------------------------------------------------------------------------------------------------
let ws = null;
let myId = null;
let iceServers = [];
const links = new Map();          // remote id -> link
const earlyCandidates = new Map(); // remote id -> candidate messages that came before any description
let finished = false;
let startedFile = false;
let pendingPass = null;   // receive-file: file-ok is sent, waiting for the sender to close the channel

function finish(code, line) {
  if (finished) return;
  finished = true;
  if (line) out(line);
  for (const l of links.values()) { try { l.conn.close(); } catch (e) { /* closing anyway */ } }
  try { if (ws) ws.close(1000); } catch (e) { /* closing anyway */ }
  // Let the close_notify / SCTP ABORT and the WebSocket close go out, then leave.
  setTimeout(() => { if (ndc) { try { ndc.cleanup(); } catch (e) { /* leaving */ } } process.exit(code); }, 300);
  setTimeout(() => process.exit(code), 3000).unref();
}
const fail = (why) => finish(1, `FAIL ${opt.scenario}: ${why}`);

setTimeout(() => {
  if (WAITING.includes(opt.scenario)) { log(`--timeout ${opt.timeout} s reached: stopping`); finish(0); }
  else fail(`timed out after ${opt.timeout} s`);
}, opt.timeout * 1000).unref();
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => { log(`got ${sig}`); if (WAITING.includes(opt.scenario)) finish(0); else fail(`interrupted by ${sig}`); });
}
process.on('uncaughtException', (e) => fail(`uncaught ${e && e.stack || e}`));
process.on('unhandledRejection', (e) => fail(`unhandled rejection ${e && e.stack || e}`));

function send(msg) {
  const s = JSON.stringify(msg);
  vlog('->', s.slice(0, 160));
  ws.send(s);
}

// The SDP without candidate lines, and the candidates it had, as candidate inits.
function splitSdp(sdp) {
  const keep = [], found = [];
  let index = -1, mid = null;
  const mids = [];
  for (const ln of sdp.split(/\r?\n/)) {
    if (ln.startsWith('m=')) { index++; mids.push(null); }
    else if (ln.startsWith('a=mid:') && index >= 0) mids[index] = ln.slice(6);
    if (ln.startsWith('a=candidate:')) { found.push({ candidate: ln.slice(2), index }); continue; }
    if (ln === 'a=end-of-candidates' || ln === '') continue;
    keep.push(ln);
  }
  mid = mids[0];
  return {
    sdp: keep.join('\r\n') + '\r\n',
    candidates: found.map(f => ({ candidate: f.candidate, sdpMid: mids[f.index] ?? mid ?? '0', sdpMLineIndex: Math.max(f.index, 0) })),
  };
}
const normCandidate = (c) => (c.startsWith('a=') ? c.slice(2) : c);

function newLink(remote, offerer = false) {
  const link = { remote, described: false, remoteSet: false, pending: earlyCandidates.get(remote) || [], queued: [],
    sent: new Set(), ended: false, lastMid: '0', lastIndex: 0 };
  earlyCandidates.delete(remote);
  const ev = {
    onRtp: (kind, p) => { if (link.echo) link.echo.onPacket(kind, p); },
    onCandidate: (c) => {
      if (!link.described) { link.queued.push(c); return; }
      sendCandidate(link, c);
    },
    onChannel: (ch) => onChannel(link, ch),
    onState: (s) => {
      log(`peer ${remote}: connection ${s}`);
      if (s === 'connected' && MEDIA) startMedia(link);
      if (s === 'failed' && !WAITING.includes(opt.scenario)) fail(`connection to ${remote} failed`);
    },
  };
  link.conn = opt.lib === 'werift' ? weriftConnection(remote, iceServers, ev) : ndcConnection(remote, iceServers, ev, offerer);
  links.set(remote, link);
  return link;
}

function sendCandidate(link, c) {
  if (finished || link.ended) return;
  if (c === null) {
    link.ended = true;
    send({ type: 'candidate', to: link.remote, candidate: '', sdpMid: link.lastMid, sdpMLineIndex: link.lastIndex });
    return;
  }
  const cand = normCandidate(c.candidate);
  if (link.sent.has(cand)) return;
  link.sent.add(cand);
  link.lastMid = c.sdpMid == null ? '0' : String(c.sdpMid);
  link.lastIndex = c.sdpMLineIndex == null ? 0 : c.sdpMLineIndex;
  send({ type: 'candidate', to: link.remote, candidate: cand, sdpMid: link.lastMid, sdpMLineIndex: link.lastIndex });
}

function sendDescription(link, d) {
  const { sdp, candidates } = splitSdp(d.sdp);
  send({ type: d.type, to: link.remote, sdp });
  link.described = true;
  for (const c of candidates) sendCandidate(link, c);
  const queued = link.queued;
  link.queued = [];
  for (const c of queued) sendCandidate(link, c);
  vlog(`sent ${d.type} to ${link.remote} (${candidates.length} candidates were in the SDP)`);
}

async function applyPending(link) {
  const p = link.pending;
  link.pending = [];
  for (const m of p) await addCandidate(link, m);
}

async function addCandidate(link, m) {
  const c = typeof m.candidate === 'string' ? m.candidate : '';
  const init = { candidate: c, sdpMid: m.sdpMid == null ? '0' : m.sdpMid, sdpMLineIndex: m.sdpMLineIndex == null ? 0 : m.sdpMLineIndex };
  try { await link.conn.addCandidate(init); } catch (e) { log(`candidate ${JSON.stringify(c)} from ${link.remote} refused: ${e.message}`); }
}

async function onSignal(m) {
  switch (m.type) {
    case 'joined': {
      myId = m.id;
      iceServers = Array.isArray(m.iceServers) ? m.iceServers : [];
      const peers = (m.peers || []).filter(p => typeof p === 'string');
      out(`joined ${m.room} as ${myId} peers ${JSON.stringify(peers)}`);
      for (const p of peers) {
        const link = newLink(p, true);
        const ch = link.conn.createChannel('data');
        onChannel(link, ch);
        sendDescription(link, await link.conn.offer());
      }
      break;
    }
    case 'peer-joined': log(`peer joined: ${m.id}`); break;
    case 'peer-left': {
      log(`peer left: ${m.id}`);
      earlyCandidates.delete(m.id);
      const link = links.get(m.id);
      if (link) {
        links.delete(m.id);
        link.conn.close();
        if (pendingPass) finish(0, pendingPass);
        else if (!WAITING.includes(opt.scenario)) fail(`peer ${m.id} left before the ${opt.scenario} scenario finished`);
      }
      break;
    }
    case 'offer': {
      let link = links.get(m.from);
      if (link && link.remoteSet) { log(`a second offer from ${m.from} (renegotiation) is not supported here`); break; }
      link = link || newLink(m.from);
      try {
        const d = await link.conn.answer(m.sdp);
        link.remoteSet = true;
        sendDescription(link, d);
      } catch (e) { return fail(`offer from ${m.from}: ${e.message}`); }
      await applyPending(link);
      break;
    }
    case 'answer': {
      const link = links.get(m.from);
      if (!link) { log(`an answer from ${m.from}, to whom nothing was offered`); break; }
      try { await link.conn.setAnswer(m.sdp); } catch (e) { return fail(`answer from ${m.from}: ${e.message}`); }
      link.remoteSet = true;
      await applyPending(link);
      break;
    }
    case 'candidate': {
      const link = links.get(m.from);
      if (!link) { if (!earlyCandidates.has(m.from)) earlyCandidates.set(m.from, []); earlyCandidates.get(m.from).push(m); vlog(`candidate from ${m.from} kept (no description yet)`); break; }
      if (!link.remoteSet) { link.pending.push(m); break; }
      await addCandidate(link, m);
      break;
    }
    case 'error':
      log(`signaling error ${m.code}: ${m.message}`);
      if (m.code !== 'unknown-peer') fail(`signaling error ${m.code}: ${m.message}`);
      break;
    default: break;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Media (media-echo): synthetic frames out on both tracks once connected; what comes back is checked frame by frame.
function startMedia(link) {
  if (link.echo) return;
  const streams = link.conn.mediaStreams();
  for (const kind of ['video', 'audio']) {
    if (streams[kind].pt === null) return fail(`no ${kind} payload type in our description`);
  }
  if (opt.lib === 'ndc') vlog(`our SDP names: ${(link.conn.localSdp().match(/^a=(ssrc|mid|rtcp-fb|extmap)[^\r\n]*/gm) || []).join(' | ')}`);
  const sender = new media.Sender(streams, (kind, buf) => link.conn.sendRtp(kind, buf));
  link.echo = new media.EchoCheck(sender);
  sender.start();
  log(`sending synthetic VP8 and Opus to ${link.remote} (payload types ${streams.video.pt || 'werift\'s'} and ${streams.audio.pt || 'werift\'s'})`);
  const timer = setInterval(() => {
    const e = link.echo;
    if (e.corrupt.video || e.corrupt.audio) {
      clearInterval(timer);
      sender.stop();
      return fail(`frames came back whole but not as sent: video ${e.corrupt.video}, audio ${e.corrupt.audio}`);
    }
    if (e.matched.video >= MEDIA_VIDEO_FRAMES && e.matched.audio >= MEDIA_AUDIO_FRAMES) {
      clearInterval(timer);
      sender.stop();
      log(`sent video ${sender.count.video} audio ${sender.count.audio}; back: packets video ${e.packets.video} ` +
        `audio ${e.packets.audio}`);
      finish(0, `PASS media-echo video ${e.matched.video} audio ${e.matched.audio}`);
    }
  }, 250);
}

// ---------------------------------------------------------------------------------------------------------------
// Data channels
function onChannel(link, ch) {
  vlog(`channel '${ch.label}' with ${link.remote}`);
  const q = [];            // messages not yet taken; null = closed
  let waiter = null;
  ch.next = (ms) => new Promise((resolve) => {
    if (q.length) return resolve(q.shift());
    const t = setTimeout(() => { waiter = null; resolve(undefined); }, ms);
    waiter = (m) => { clearTimeout(t); waiter = null; resolve(m); };
  });
  const push = (m) => { if (waiter) waiter(m); else q.push(m); };
  const unsent = [];   // echoes of messages that came before the channel was open (data before the DCEP ACK)
  ch.on('message', (m) => {
    if (opt.scenario !== 'echo-server') { push(m); return; }
    if (!ch.isOpen()) { log(`a message on '${ch.label}' before the channel was open (data before the DCEP ACK)`); unsent.push(m); return; }
    try { ch.send(m); } catch (e) { log(`echo on '${ch.label}': ${e.message}`); }
  });
  ch.on('close', () => push(null));
  let opened = false;
  const onOpen = () => {
    if (opened) return;
    opened = true;
    log(`channel '${ch.label}' open with ${link.remote}`);
    while (unsent.length) ch.send(unsent.shift());
    if (ch.label === 'data') {
      if (opt.scenario === 'echo') guard(echoClient(ch));
      else if (['send-file', 'file-sender'].includes(opt.scenario) && !startedFile) { startedFile = true; guard(sendFile(link)); }
    } else if (ch.label.startsWith('file') && ['receive-file', 'file-receiver'].includes(opt.scenario)) {
      guard(receiveFile(ch));
    }
  };
  ch.on('open', onOpen);
  if (ch.isOpen()) onOpen();
}

const guard = (p) => p.catch((e) => fail(`${e && e.stack || e}`));
const describe = (d) => (typeof d === 'string' ? `text(${d.length})` : Buffer.isBuffer(d) ? `binary(${d.length})` : String(d));

async function echoClient(ch) {
  const cases = [
    ['text "hello"', 'hello'],
    ['1 KiB binary', crypto.randomBytes(1024)],
    ['256 KiB random binary', crypto.randomBytes(256 * 1024)],
  ];
  if (opt.skipEmpty) log('--skip-empty: no empty messages');
  else if (!ch.canSendEmpty) log(`${opt.lib} cannot send empty messages (RFC 8831 empty PPIDs): skipping those two`);
  else cases.push(['empty text', ''], ['empty binary', Buffer.alloc(0)]);
  cases.push(['non-ASCII text', 'h\u00e9llo \u2713 \u{1f600}']);
  for (const [what, data] of cases) {
    ch.send(data);
    const got = await ch.next(20000);
    if (got === undefined) return fail(`no echo of the ${what} within 20 s`);
    if (got === null) return fail(`the data channel closed while waiting for the echo of the ${what}`);
    if (typeof got !== typeof data || Buffer.isBuffer(got) !== Buffer.isBuffer(data))
      return fail(`the echo of the ${what} came back as ${describe(got)}, sent ${describe(data)}`);
    if (typeof data === 'string' ? got !== data : !data.equals(got))
      return fail(`the echo of the ${what} differs (${describe(got)} back, ${describe(data)} sent)`);
    log(`echo ok: ${what} (${describe(data)})`);
  }
  finish(0, 'PASS echo');
}

function fileSha256(p) {
  const h = crypto.createHash('sha256');
  const fd = fs.openSync(p, 'r');
  const buf = Buffer.alloc(1 << 20);
  try { for (let n; (n = fs.readSync(fd, buf, 0, buf.length, null)) > 0;) h.update(buf.subarray(0, n)); } finally { fs.closeSync(fd); }
  return h.digest('hex');
}

async function sendFile(link) {
  const size = fs.statSync(opt.file).size;
  const digest = fileSha256(opt.file);
  const ch = link.conn.createChannel('file-1');
  const replies = [];
  let wake = null;
  const poke = () => { if (wake) { const w = wake; wake = null; w(); } };
  ch.on('message', (m) => { replies.push(m); poke(); });
  ch.on('close', () => { replies.push(null); poke(); });
  ch.on('low', poke);
  const wait = () => new Promise((r) => { wake = r; });
  if (!ch.isOpen()) await new Promise((r) => ch.on('open', r));
  ch.setLowThreshold(LOW_THRESHOLD);
  log(`channel 'file-1' open with ${link.remote}: sending ${size} bytes, sha256 ${digest}`);
  ch.send(JSON.stringify({ type: 'file', name: path.basename(opt.file), size, sha256: digest }));
  const fd = fs.openSync(opt.file, 'r');
  let sent = 0;
  try {
    for (;;) {
      while (ch.bufferedAmount() > HIGH_WATER && !replies.length) await wait();
      if (replies.length) break;   // an early file-error, or the channel closed
      const buf = Buffer.alloc(CHUNK);
      const n = fs.readSync(fd, buf, 0, CHUNK, null);
      if (n === 0) break;
      ch.send(n === CHUNK ? buf : buf.subarray(0, n));
      sent += n;
    }
  } finally { fs.closeSync(fd); }
  if (!replies.length) ch.send(JSON.stringify({ type: 'file-end' }));
  vlog(`sent ${sent} bytes, waiting for the answer`);
  for (;;) {
    while (!replies.length) await wait();
    const r = replies.shift();
    if (r === null) return fail('the file channel closed before file-ok arrived');
    if (typeof r !== 'string') continue;
    let m;
    try { m = JSON.parse(r); } catch (e) { return fail(`the receiver sent a text that is not JSON: ${r.slice(0, 100)}`); }
    if (m.type === 'file-ok') {
      if (m.sha256 !== digest) return fail(`file-ok with sha256 ${m.sha256}, expected ${digest}`);
      ch.close();
      if (opt.scenario === 'file-sender') return finish(0, `sent ${size} bytes sha256 ${digest} confirmed`);
      return finish(0, 'PASS send-file');
    }
    if (m.type === 'file-error') return fail(`the receiver refused the file: ${m.reason}: ${m.message}`);
    return fail(`unexpected answer on the file channel: ${r.slice(0, 100)}`);
  }
}

async function receiveFile(ch) {
  let hdr = null, got = 0, hash = null, fd = null, tmp = null, why = null;
  const drop = () => { if (fd !== null) { fs.closeSync(fd); fd = null; fs.rmSync(tmp, { force: true }); } };
  const refuse = (reason, message) => {
    try { if (ch.isOpen()) ch.send(JSON.stringify({ type: 'file-error', reason, message })); } catch (e) { /* closed */ }
    drop();
    return `refused (${reason}): ${message}`;
  };
  for (;;) {
    const data = await ch.next(3600 * 1000);
    if (data === null || data === undefined) { drop(); why = 'closed: the channel closed midway'; break; }
    if (typeof data !== 'string') {
      if (!hdr) { why = refuse('protocol', 'data before the header'); break; }
      if (data.length > CHUNK) log(`a chunk of ${data.length} bytes (the protocol says at most ${CHUNK})`);
      if (got + data.length > hdr.size) { why = refuse('size', `more bytes than announced (${got + data.length} > ${hdr.size})`); break; }
      hash.update(data);
      got += data.length;
      if (fd !== null) fs.writeSync(fd, data);
      continue;
    }
    let m;
    try { m = JSON.parse(data); } catch (e) { why = refuse('protocol', 'a text message that is not JSON'); break; }
    if (!m || typeof m !== 'object' || Array.isArray(m)) { why = refuse('protocol', 'not a JSON object'); break; }
    if (m.type === 'file' && !hdr) {
      if (!Number.isSafeInteger(m.size) || m.size < 0 || typeof m.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(m.sha256)) {
        why = refuse('protocol', `bad header ${data.slice(0, 200)}`); break;
      }
      let name = path.basename(String(m.name || 'file').replace(/\\/g, '/'));
      if (!name || name === '.' || name === '..') name = 'file';
      hdr = { name, size: m.size, sha256: m.sha256 };
      hash = crypto.createHash('sha256');
      log(`receiving ${name}: ${m.size} bytes, sha256 ${m.sha256}`);
      if (opt.dir) { tmp = path.join(opt.dir, `.${name}.part`); fd = fs.openSync(tmp, 'w'); }
      continue;
    }
    if (m.type === 'file-end' && hdr) {
      if (got !== hdr.size) { why = refuse('size', `got ${got} of ${hdr.size} bytes`); break; }
      const digest = hash.digest('hex');
      if (digest !== hdr.sha256) { why = refuse('sha256', `expected ${hdr.sha256}, got ${digest}`); break; }
      if (fd !== null) { fs.closeSync(fd); fd = null; fs.renameSync(tmp, path.join(opt.dir, hdr.name)); }
      ch.send(JSON.stringify({ type: 'file-ok', sha256: digest }));
      if (opt.scenario === 'file-receiver') { out(`received ${hdr.name} ${got} bytes sha256 ${digest}`); return; }
      // The sender closes the channel after file-ok: wait for that (5 s at most) so our answer is out first.
      // Should the sender leave the room first, that is fine now (see peer-left).
      pendingPass = `PASS receive-file ${got} ${digest}`;
      const deadline = Date.now() + 5000;
      for (let x; (x = await ch.next(Math.max(1, deadline - Date.now()))) !== null;) {
        if (x === undefined) { log('the sender did not close the file channel within 5 s of file-ok'); break; }
      }
      return finish(0, `PASS receive-file ${got} ${digest}`);
    }
    why = refuse('protocol', `unexpected message ${data.slice(0, 100)}`);
    break;
  }
  if (opt.scenario === 'file-receiver') log(`file on channel '${ch.label}': ${why}`);
  else fail(`file on channel '${ch.label}': ${why}`);
}

// ---------------------------------------------------------------------------------------------------------------
if (ndc) ndc.initLogger(opt.verbose ? 'Info' : 'Warning', (level, msg) => log(`[libdatachannel ${level}] ${msg}`));
ws = new WebSocket(opt.signal, { perMessageDeflate: false });
let chain = Promise.resolve();   // signaling messages are handled one after the other, in order
ws.on('open', () => {
  const join = { type: 'join', room: opt.room };
  if (opt.id) join.id = opt.id;
  send(join);
});
ws.on('message', (data, isBinary) => {
  if (isBinary) return;
  const s = data.toString();
  vlog('<-', s.slice(0, 160));
  let m;
  try { m = JSON.parse(s); } catch (e) { log(`signaling: not JSON: ${s.slice(0, 100)}`); return; }
  chain = chain.then(() => onSignal(m)).catch((e) => fail(`handling ${m.type}: ${e && e.stack || e}`));
});
ws.on('close', (code) => { if (!finished) fail(`the signaling connection closed (${code})`); });
ws.on('error', (e) => { if (!finished) fail(`signaling: ${e.message}`); });
