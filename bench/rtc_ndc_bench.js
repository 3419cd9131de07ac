#!/usr/bin/env node
// The baseline of `duplex-bench rtc`: the same measurement with
// node-datachannel (libdatachannel 0.24.5, usrsctp inside): two
// PeerConnections on 127.0.0.1, a channel `bench`, the sender keeps
// bufferedAmount under 1 MiB and refills on bufferedAmountLow (threshold
// 256 KiB). setup: first PeerConnection created → the offerer's channel
// open; goodput: first send → last byte received.
//   node bench/rtc_ndc_bench.js [--megabytes 64] [--message-size 65536] [--processes]
// --processes: the answering peer runs in a child process (signaling over
// Node's IPC channel), as duplex-bench rtc --processes forks.
// Prints one JSON line like duplex-bench rtc --json. Needs tests/interop's npm packages.
'use strict';
const path = require('path');
const { fork } = require('child_process');
const ndc = require(path.join(__dirname, '..', 'tests', 'interop', 'node_modules', 'node-datachannel'));

const args = process.argv.slice(2);
const opt = (name, def) => { const i = args.indexOf(name); return i >= 0 ? Number(args[i + 1]) : def; };
const total = opt('--megabytes', 64) * 1024 * 1024;
const size = opt('--message-size', 65536);
const processes = args.includes('--processes');
const isChild = args.includes('--child');
const HIGH = 1 << 20, LOW = 256 * 1024;
const now = () => Number(process.hrtime.bigint()) / 1e6;  // ms
const cfg = { iceServers: [], bindAddress: '127.0.0.1', maxMessageSize: 262144 };
const watchdog = setTimeout(() => { console.error('rtc_ndc_bench: timed out'); process.exit(1); }, 60000);

function receiver(pc, onDone) {
  let received = 0;
  const keep = [];
  pc.onDataChannel((dc) => {
    keep.push(dc);
    dc.onMessage((msg) => {
      received += msg.length;
      if (received >= total) onDone(received);
    });
  });
}

if (isChild) {
  // The answering peer: signaling arrives over IPC.
  const b = new ndc.PeerConnection('b', cfg);
  b.onLocalDescription((sdp, type) => process.send({ t: 'desc', sdp, type }));
  b.onLocalCandidate((c, mid) => process.send({ t: 'cand', c, mid }));
  receiver(b, (bytes) => process.send({ t: 'done', bytes }));
  process.on('message', (m) => {
    if (m.t === 'desc') b.setRemoteDescription(m.sdp, m.type);
    else if (m.t === 'cand') b.addRemoteCandidate(m.c, m.mid);
    else if (m.t === 'exit') { clearTimeout(watchdog); b.close(); ndc.cleanup(); process.exit(0); }
  });
} else {
  const t0 = now();
  const a = new ndc.PeerConnection('a', cfg);
  let openAt = 0, firstSend = 0, sent = 0;
  const report = (received) => {
    const secs = (now() - firstSend) / 1000;
    console.log(JSON.stringify({ mode: 'rtc', impl: 'node-datachannel', processes, message_size: size,
      bytes: received, setup_ms: Number((openAt - t0).toFixed(2)), seconds: Number(secs.toFixed(4)),
      megabytes_per_second: Number((received / secs / 1e6).toFixed(2)) }));
    clearTimeout(watchdog);
  };
  let toB;
  if (processes) {
    const child = fork(__filename, [...args, '--child']);
    toB = (m) => child.send(m);
    child.on('message', (m) => {
      if (m.t === 'desc') a.setRemoteDescription(m.sdp, m.type);
      else if (m.t === 'cand') a.addRemoteCandidate(m.c, m.mid);
      else if (m.t === 'done') {
        report(m.bytes);
        child.send({ t: 'exit' });
        child.on('exit', () => { a.close(); ndc.cleanup(); process.exit(0); });
      }
    });
  } else {
    const b = new ndc.PeerConnection('b', cfg);
    b.onLocalDescription((sdp, type) => a.setRemoteDescription(sdp, type));
    b.onLocalCandidate((c, mid) => a.addRemoteCandidate(c, mid));
    receiver(b, (bytes) => { report(bytes); setTimeout(() => { a.close(); b.close(); ndc.cleanup(); process.exit(0); }, 50); });
    toB = (m) => { if (m.t === 'desc') b.setRemoteDescription(m.sdp, m.type); else b.addRemoteCandidate(m.c, m.mid); };
  }
  a.onLocalDescription((sdp, type) => toB({ t: 'desc', sdp, type }));
  a.onLocalCandidate((c, mid) => toB({ t: 'cand', c, mid }));
  const chunk = Buffer.alloc(size, 120);
  const dc = a.createDataChannel('bench');
  const pump = () => {
    if (!firstSend) firstSend = now();
    while (sent < total && dc.bufferedAmount() < HIGH) {
      const n = Math.min(size, total - sent);
      dc.sendMessageBinary(n === size ? chunk : chunk.subarray(0, n));
      sent += n;
    }
  };
  dc.setBufferedAmountLowThreshold(LOW);
  dc.onBufferedAmountLow(pump);
  dc.onOpen(() => { openAt = now(); pump(); });
}
