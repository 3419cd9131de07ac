'use strict';
// node `ws` echo server on 127.0.0.1 and a free port:
//   node node_ws_echo_server.js [--deflate] [--cert FILE --key FILE]
// Prints "listening 127.0.0.1:PORT" once ready. With --cert and --key (PEM) it
// serves wss:// (an https.createServer with that certificate and key). Every message goes back with
// the binary flag it came with. permessage-deflate stays at the ws server
// default (off) unless --deflate turns it on (threshold 0: every message it
// sends is compressed). For each connection it prints the extensions offered
// and agreed, and when it closes "read N bytes" (all the socket read) and then
// "closed by peer with CODE". Exits on SIGTERM/SIGINT.
const fs = require('fs');
const https = require('https');
const { WebSocketServer } = require('ws');

const arg = (name) => { const i = process.argv.indexOf(name); return i > 0 ? process.argv[i + 1] : undefined; };
const deflate = process.argv.includes('--deflate');
const cert = arg('--cert'), key = arg('--key');
if (!cert !== !key) { console.error('usage: node node_ws_echo_server.js [--deflate] [--cert FILE --key FILE]'); process.exit(2); }
const options = { maxPayload: 16 << 20, perMessageDeflate: deflate ? { threshold: 0 } : false };
const tlsServer = cert ? https.createServer({ cert: fs.readFileSync(cert), key: fs.readFileSync(key) }) : null;
const wss = tlsServer ? new WebSocketServer({ server: tlsServer, ...options })
  : new WebSocketServer({ host: '127.0.0.1', port: 0, ...options });
wss.on('headers', (headers) => {
  const ext = headers.find(h => /^sec-websocket-extensions:/i.test(h));
  console.log(`agreed extensions: ${ext ? ext.replace(/^[^:]*:\s*/, '') : '(none)'}`);
});
wss.on('connection', (ws, req) => {
  console.log(`connection ${req.url} extensions offered: ${req.headers['sec-websocket-extensions'] || '(none)'}`);
  const socket = ws._socket;
  ws.on('message', (msg, isBinary) => ws.send(msg, { binary: isBinary }));
  ws.on('close', (code) => {
    console.log(`read ${socket.bytesRead} bytes`);
    console.log(`closed by peer with ${code}`);
  });
});
if (tlsServer) tlsServer.listen(0, '127.0.0.1', () => console.log(`listening 127.0.0.1:${tlsServer.address().port}`));
else wss.on('listening', () => console.log(`listening 127.0.0.1:${wss.address().port}`));
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => { wss.close(); process.exit(0); });
