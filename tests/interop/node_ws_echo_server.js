'use strict';
// node `ws` echo server on 127.0.0.1 and a free port:
//   node node_ws_echo_server.js
// Prints "listening 127.0.0.1:PORT" once ready. Every message goes back with
// the binary flag it came with. permessage-deflate stays at the ws server
// default (off). Exits on SIGTERM/SIGINT.
const { WebSocketServer } = require('ws');

const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, maxPayload: 16 << 20 });
wss.on('connection', (ws, req) => {
  console.log(`connection ${req.url} extensions offered: ${req.headers['sec-websocket-extensions'] || '(none)'}`);
  ws.on('message', (msg, isBinary) => ws.send(msg, { binary: isBinary }));
  ws.on('close', (code) => console.log(`closed by peer with ${code}`));
});
wss.on('listening', () => console.log(`listening 127.0.0.1:${wss.address().port}`));
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => { wss.close(); process.exit(0); });
