'use strict';
// node `ws` client against an echo server:
//   node node_ws_client.js ws://127.0.0.1:PORT/echo [--deflate]
// Sends a text message (with non-ASCII), a binary message (all 256 byte values)
// and a 1 MiB text message, one at a time; each must come back equal and with
// the same type. Then closes with 1000 and checks the client sees 1000 too.
// --deflate offers permessage-deflate (the ws default); without it nothing is
// offered. Prints "PASS ..." and exits 0, or "FAIL ..." and exits 1.
const WebSocket = require('ws');

const [url, flag] = process.argv.slice(2);
const deflate = flag === '--deflate';
if (!url) {
  console.error('usage: node node_ws_client.js ws://127.0.0.1:PORT/path [--deflate]');
  process.exit(2);
}
const fail = (why) => { console.log(`FAIL node ws client (deflate offered: ${deflate}) ${url}: ${why}`); process.exit(1); };
setTimeout(() => fail('watchdog: not done after 20 s'), 20000).unref();

const big = Buffer.alloc(1 << 20);
for (let i = 0; i < big.length; i++) big[i] = 97 + (i % 26);
const cases = [
  { name: 'text', data: 'hello from node ws \u03ba\u1f79\u03c3\u03bc\u03b5 \u{1f600}', binary: false },
  { name: 'binary', data: Buffer.from(Array.from({ length: 256 }, (_, i) => i)), binary: true },
  { name: '1 MiB text', data: big.toString('latin1'), binary: false },
];

const ws = new WebSocket(url, { perMessageDeflate: deflate, maxPayload: 4 << 20 });
let next = 0;
const sendNext = () => ws.send(cases[next].data, { binary: cases[next].binary });
ws.on('open', () => {
  if (deflate && ws.extensions === '') console.log('server did not negotiate permessage-deflate (offer declined)');
  else console.log(`negotiated extensions: '${ws.extensions}'`);
  sendNext();
});
ws.on('message', (msg, isBinary) => {
  const c = cases[next];
  if (!c) return fail('unexpected extra message');
  if (isBinary !== c.binary) return fail(`${c.name}: came back with binary=${isBinary}`);
  const want = Buffer.isBuffer(c.data) ? c.data : Buffer.from(c.data, 'utf8');
  if (!want.equals(msg)) return fail(`${c.name}: came back different (${msg.length} bytes, sent ${want.length})`);
  console.log(`echo ok: ${c.name} (${want.length} bytes, binary=${isBinary})`);
  if (++next < cases.length) sendNext();
  else ws.close(1000, 'done');
});
ws.on('error', (e) => fail(`error: ${e.message}`));
ws.on('close', (code, reason) => {
  if (next !== cases.length) return fail(`closed (${code}) after ${next} of ${cases.length} echoes`);
  if (code !== 1000) return fail(`close code ${code} (reason '${reason}'), want 1000`);
  console.log(`PASS node ws client (deflate offered: ${deflate}) ${url}: ${cases.length} messages echoed, closed 1000`);
  process.exit(0);
});
