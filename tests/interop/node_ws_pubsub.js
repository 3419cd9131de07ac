'use strict';
// A node `ws` client of duplex-server's /pubsub/<topic> route, for
// redis_cluster_test.py:
//   node node_ws_pubsub.js ws://127.0.0.1:PORT/pubsub/TOPIC --expect N [--send M --prefix P]
// Prints "ready" once open; on a line "go" on stdin sends M messages
// "P:0".."P:M-1"; prints one JSON line {received, bad, order} once it has N
// messages (every publisher's in order, none twice: checked here), or after
// 60 s with what it has.
const WebSocket = require('ws');
const readline = require('readline');

const args = process.argv.slice(2);
const url = args[0];
const opt = (name, d) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : d; };
const expect = Number(opt('--expect', '0'));
const send = Number(opt('--send', '0'));
const prefix = opt('--prefix', 'n');

const next = new Map();  // publisher prefix -> next sequence number expected
let received = 0, bad = 0, outOfOrder = 0, done = false;
const finish = () => {
  if (done) return;
  done = true;
  console.log(JSON.stringify({ received, bad, out_of_order: outOfOrder }));
  ws.close(1000);
  setTimeout(() => process.exit(0), 200);
};
const ws = new WebSocket(url);
ws.on('open', () => console.log('ready'));
ws.on('message', (data) => {
  const m = /^([a-z]+):(\d+)$/.exec(data.toString());
  if (!m) { ++bad; return; }
  const want = next.get(m[1]) || 0;
  if (Number(m[2]) !== want) ++outOfOrder;
  next.set(m[1], Number(m[2]) + 1);
  if (++received >= expect) finish();
});
ws.on('error', (e) => { console.log(JSON.stringify({ error: String(e) })); process.exit(1); });
readline.createInterface({ input: process.stdin }).on('line', (line) => {
  if (line.trim() !== 'go') return;
  for (let i = 0; i < send; ++i) ws.send(`${prefix}:${i}`);
});
setTimeout(finish, 60000);
