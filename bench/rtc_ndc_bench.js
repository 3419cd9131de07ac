#!/usr/bin/env node
// The baseline of `duplex-bench rtc`: the same measurement with
// node-datachannel (libdatachannel 0.24.5, usrsctp inside): two
// PeerConnections in one Node process on 127.0.0.1, a channel `bench`, the
// sender keeps bufferedAmount under 1 MiB and refills on bufferedAmountLow
// (threshold 256 KiB). setup: first PeerConnection created → the offerer's
// channel open; goodput: first send → last byte received.
//   node bench/rtc_ndc_bench.js [--megabytes 64] [--message-size 65536]
// Prints one JSON line like duplex-bench rtc --json. Needs tests/interop's npm packages.
'use strict';
const path = require('path');
const ndc = require(path.join(__dirname, '..', 'tests', 'interop', 'node_modules', 'node-datachannel'));

const args = process.argv.slice(2);
const opt = (name, def) => { const i = args.indexOf(name); return i >= 0 ? Number(args[i + 1]) : def; };
const total = opt('--megabytes', 64) * 1024 * 1024;
const size = opt('--message-size', 65536);
const HIGH = 1 << 20, LOW = 256 * 1024;
const now = () => Number(process.hrtime.bigint()) / 1e6;  // ms

const t0 = now();
const cfg = { iceServers: [], bindAddress: '127.0.0.1', maxMessageSize: 262144 };
const a = new ndc.PeerConnection('a', cfg);
const b = new ndc.PeerConnection('b', cfg);
a.onLocalDescription((sdp, type) => b.setRemoteDescription(sdp, type));
b.onLocalDescription((sdp, type) => a.setRemoteDescription(sdp, type));
a.onLocalCandidate((c, mid) => b.addRemoteCandidate(c, mid));
b.onLocalCandidate((c, mid) => a.addRemoteCandidate(c, mid));

let received = 0, openAt = 0, firstSend = 0, sent = 0, keep = [];
const chunk = Buffer.alloc(size, 120);
const watchdog = setTimeout(() => { console.error('rtc_ndc_bench: timed out'); process.exit(1); }, 60000);

b.onDataChannel((dc) => {
  keep.push(dc);
  dc.onMessage((msg) => {
    received += msg.length;
    if (received >= total) {
      const secs = (now() - firstSend) / 1000;
      console.log(JSON.stringify({ mode: 'rtc', impl: 'node-datachannel', processes: false, message_size: size,
        bytes: received, setup_ms: Number((openAt - t0).toFixed(2)), seconds: Number(secs.toFixed(4)),
        megabytes_per_second: Number((received / secs / 1e6).toFixed(2)) }));
      clearTimeout(watchdog);
      setTimeout(() => { a.close(); b.close(); ndc.cleanup(); process.exit(0); }, 50);
    }
  });
});
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
