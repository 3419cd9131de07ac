'use strict';
// A Socket.IO node for bench/compare_nodes.py: every event "m" a client emits
// goes to every other client, on every node (socket.broadcast through
// @socket.io/redis-adapter, the documented way to scale Socket.IO out).
//   node server.js PORT REDIS_URL (redis://... or unix:///path)   prints "listening on port PORT" once ready
const http = require('http');
const { Server } = require('socket.io');
const { createAdapter } = require('@socket.io/redis-adapter');
const { createClient } = require('redis');

const port = +process.argv[2];
const redisUrl = process.argv[3];
(async () => {
  // node-redis takes redis:// URLs, and a Unix socket as a path.
  const pub = createClient(redisUrl.startsWith('unix://') ? { socket: { path: redisUrl.slice(7) } } : { url: redisUrl });
  const sub = pub.duplicate();
  await Promise.all([pub.connect(), sub.connect()]);
  const server = http.createServer();
  const io = new Server(server, { transports: ['websocket'], adapter: createAdapter(pub, sub) });
  io.on('connection', (socket) => {
    socket.on('m', (data) => socket.broadcast.emit('m', data));
  });
  server.listen(port, '127.0.0.1', () => console.log(`listening on port ${server.address().port}`));
})().catch((e) => { console.error(e); process.exit(1); });
