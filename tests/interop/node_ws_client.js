'use strict';
// node `ws` client against an echo server:
//   node node_ws_client.js ws[s]://127.0.0.1:PORT/echo [--deflate] [--threshold N]
//        [--expect-deflate | --expect-no-deflate] [--expect-param NAME]... [--connections N] [--ca FILE]
// Sends, one at a time: a text message (with non-ASCII), a binary message (all
// 256 byte values), a 1 MiB text message, an empty text and an empty binary
// message, 64 KiB of random bytes (incompressible), and random blocks of 300 B,
// 2 KiB and 16 KiB each repeated over 64 KiB (matches that far back: a window
// probe); then 300 small text messages back to back. Each must come back equal,
// in order and with the same type. Then closes with 1000 and checks the client
// sees 1000 too.
//
// --deflate offers permessage-deflate with ws's defaults (threshold 1024);
// --threshold N offers it with that threshold (0: compress even the smallest
// message). Without either nothing is offered. (ws 8 applies the threshold
// only when its own compressor resets after every message, i.e. when
// client_no_context_takeover was agreed; otherwise it compresses everything.)
// --expect-deflate: the server must agree to permessage-deflate; the 1 MiB
// message must cross the wire compressed both ways (under 64 KiB each way for
// it, counted on the socket: proof that each side really compressed); the
// server's echoes of the small messages must take fewer bytes than plain frames
// would (unless it agreed to server_no_context_takeover), and with --threshold 0
// so must the client's small messages.
// --expect-no-deflate: no extension may be agreed (the 1 MiB message then
// crosses uncompressed). --expect-param NAME: the server's
// Sec-WebSocket-Extensions response must carry that permessage-deflate
// parameter (e.g. server_no_context_takeover). --connections N runs N such
// clients at the same time (their messages interleave on the server).
// For wss:// URLs, --ca FILE trusts the PEM certificate(s) in FILE instead of
// Node's CA store; verification stays on (rejectUnauthorized, and the host
// name or IP literal of the URL is checked against the certificate).
// Prints "PASS ..." and exits 0, or "FAIL ..." and exits 1.
const crypto = require('crypto');
const fs = require('fs');
const WebSocket = require('ws');

let url, threshold, ca, deflate = false, expectDeflate = false, expectNoDeflate = false, connections = 1;
const expectParams = [];
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  if (a === '--deflate') deflate = true;
  else if (a === '--threshold') { threshold = +process.argv[++i]; deflate = true; }
  else if (a === '--expect-deflate') expectDeflate = true;
  else if (a === '--expect-no-deflate') expectNoDeflate = true;
  else if (a === '--expect-param') expectParams.push(process.argv[++i]);
  else if (a === '--connections') connections = +process.argv[++i];
  else if (a === '--ca' && i + 1 < process.argv.length) ca = fs.readFileSync(process.argv[++i]);
  else if (!a.startsWith('--') && !url) url = a;
  else { url = undefined; break; }
}
if (!url || !(connections >= 1) || (threshold !== undefined && !(threshold >= 0))) {
  console.error('usage: node node_ws_client.js ws://127.0.0.1:PORT/path [--deflate] [--threshold N] ' +
    '[--expect-deflate | --expect-no-deflate] [--expect-param NAME]... [--connections N]');
  process.exit(2);
}
const offered = deflate ? `offered${threshold !== undefined ? `, threshold ${threshold}` : ''}` : 'not offered';
const label = `node ws client (deflate ${offered}${connections > 1 ? `, ${connections} connections` : ''}` +
  `${ca ? ', --ca' : ''}) ${url}`;
const fail = (why) => { console.log(`FAIL ${label}: ${why}`); process.exit(1); };
setTimeout(() => fail('watchdog: not done after 20 s'), 20000).unref();

const big = Buffer.alloc(1 << 20);
for (let i = 0; i < big.length; i++) big[i] = 97 + (i % 26);
// The window probe: random blocks of 300 B, 2 KiB and 16 KiB, each repeated to fill 64 KiB. Only a compressor
// whose window is bigger than a block reaches back to its repeats, and an inflater with a smaller window then
// fails ("invalid distance too far back"). zlib checks only what lies behind its current output chunk (16 KiB
// or more), hence 64 KiB of each.
const probe = Buffer.concat([300, 2 << 10, 16 << 10].flatMap((n) => Array(Math.ceil((64 << 10) / n)).fill(crypto.randomBytes(n))));
const SMALL = 300;
const small = (c, i) => `small message ${i} of ${SMALL} on connection ${c}: the quick brown fox jumps over the lazy dog`;

// One client: resolves with a summary line, rejects with the reason it failed.
function client(c) {
  const cases = [
    { name: 'text', data: `hello from node ws ${c} \u03ba\u1f79\u03c3\u03bc\u03b5 \u{1f600}`, binary: false },
    { name: 'binary', data: Buffer.from(Array.from({ length: 256 }, (_, i) => i)), binary: true },
    { name: '1 MiB text', data: big.toString('latin1'), binary: false, big: true },
    { name: 'empty text', data: '', binary: false },
    { name: 'empty binary', data: Buffer.alloc(0), binary: true },
    { name: '64 KiB random', data: crypto.randomBytes(64 << 10), binary: true },
    { name: 'window probe (repeats 300 B, 2 KiB, 16 KiB back)', data: probe, binary: true },
  ];
  const batch = [];
  for (let i = 0; i < SMALL; i++) batch.push({ name: `small ${i}`, data: small(c, i), binary: false, small: true });
  return new Promise((resolve, reject) => {
    const perMessageDeflate = !deflate ? false : threshold !== undefined ? { threshold } : true;
    const ws = new WebSocket(url, { perMessageDeflate, maxPayload: 4 << 20, ...(ca ? { ca, rejectUnauthorized: true } : {}) });
    let responseExtensions = null;
    let next = 0;
    let mark = null;      // socket byte counters when the current measured step began
    const notes = [];
    const counters = () => ({ r: ws._socket.bytesRead, w: ws._socket.bytesWritten });
    const sendNext = () => {
      const k = cases[next];
      if (k.big) mark = counters();
      ws.send(k.data, { binary: k.binary });
    };
    ws.on('upgrade', (res) => { responseExtensions = res.headers['sec-websocket-extensions'] || ''; });
    ws.on('open', () => {
      console.log(`[${c}] negotiated extensions: '${ws.extensions}' (response header: '${responseExtensions}')`);
      if (ws._socket.encrypted) {
        const s = ws._socket;
        console.log(`[${c}] TLS: ${s.getProtocol()} ${s.getCipher().name}, peer certificate ` +
          `'${s.getPeerCertificate().subjectaltname}', authorized: ${s.authorized}`);
        if (!s.authorized) return reject(new Error(`certificate not verified: ${s.authorizationError}`));
      }
      const agreed = /(^|,)\s*permessage-deflate\b/.test(responseExtensions);
      if (expectDeflate && !agreed) return reject(new Error(`server did not agree to permessage-deflate ('${responseExtensions}')`));
      if (expectNoDeflate && (ws.extensions !== '' || responseExtensions !== ''))
        return reject(new Error(`server agreed to '${responseExtensions}', expected no extension`));
      for (const p of expectParams) {
        const params = responseExtensions.split(';').slice(1).map(s => s.trim().split('=')[0]);
        if (!params.includes(p)) return reject(new Error(`response '${responseExtensions}' lacks ${p}`));
      }
      sendNext();
    });
    ws.on('message', (msg, isBinary) => {
      const k = cases[next];
      if (!k) return reject(new Error('unexpected extra message'));
      if (isBinary !== k.binary) return reject(new Error(`${k.name}: came back with binary=${isBinary}`));
      const want = Buffer.isBuffer(k.data) ? k.data : Buffer.from(k.data, 'utf8');
      if (!want.equals(msg)) return reject(new Error(`${k.name}: came back different (${msg.length} bytes, sent ${want.length})`));
      if (k.big) {
        const now = counters();
        const w = now.w - mark.w, r = now.r - mark.r;
        notes.push(`1 MiB on the wire: ${w} bytes out, ${r} back`);
        if (expectDeflate && (w >= 64 << 10 || r >= 64 << 10))
          return reject(new Error(`1 MiB text crossed uncompressed (${w} bytes written, ${r} read)`));
        if (expectNoDeflate && (w < 1 << 20 || r < 1 << 20))
          return reject(new Error(`1 MiB text took only ${w} bytes out, ${r} back without deflate`));
      }
      if (!k.small) console.log(`[${c}] echo ok: ${k.name} (${want.length} bytes, binary=${isBinary})`);
      next++;
      if (next < cases.length && !cases[next].small) return sendNext();
      if (next === cases.length && batch.length) {
        // The small messages go out back to back, without waiting for echoes.
        cases.push(...batch.splice(0));
        mark = counters();
        for (let i = next; i < cases.length; i++) ws.send(cases[i].data, { binary: false });
        return;
      }
      if (next < cases.length) return;
      // All small echoes are back: the bytes they took, against plain frames (a payload under 126
      // bytes has a 2-byte header; client frames carry a 4-byte mask as well).
      const now = counters();
      const plain = cases.filter(x => x.small).reduce((n, x) => n + Buffer.byteLength(x.data) + 2, 0);
      const plainOut = plain + 4 * SMALL;
      const w = now.w - mark.w, r = now.r - mark.r;
      console.log(`[${c}] echo ok: ${SMALL} small messages back to back (${w} bytes out, ${r} back; ` +
        `${plainOut} out, ${plain} back as plain frames)`);
      if (expectDeflate && threshold === 0 && w >= plainOut)
        return reject(new Error(`the client did not compress the small messages (${w} bytes written, ${plainOut} plain)`));
      // With server_no_context_takeover each small message is compressed alone, where it may not shrink.
      if (expectDeflate && !/server_no_context_takeover/.test(responseExtensions) && r >= plain)
        return reject(new Error(`the server did not compress the small messages (${r} bytes read, ${plain} plain)`));
      ws.close(1000, 'done');
    });
    ws.on('error', (e) => reject(new Error(`error: ${e.message}`)));
    ws.on('close', (code, reason) => {
      if (next !== cases.length || batch.length) return reject(new Error(`closed (${code}) after ${next} of ${cases.length + batch.length} echoes`));
      if (code !== 1000) return reject(new Error(`close code ${code} (reason '${reason}'), want 1000`));
      resolve(`[${c}] ${cases.length} messages echoed, closed 1000; ${notes.join('; ')}`);
    });
  });
}

Promise.all(Array.from({ length: connections }, (_, c) => client(c))).then((lines) => {
  for (const l of lines) console.log(l);
  console.log(`PASS ${label}: every message echoed, closed 1000`);
  process.exit(0);
}, (e) => fail(e.message));
