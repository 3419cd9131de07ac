#!/usr/bin/python3
"""python3-websockets (Debian 10.4) echo server on 127.0.0.1 and a free port.

    /usr/bin/python3 py_ws_echo_server.py [--cert FILE --key FILE]

Prints "listening 127.0.0.1:PORT" once ready. With --cert and --key (PEM) it
serves wss:// (an ssl.SSLContext with that certificate and key). Every message goes back as it
came (str stays text, bytes stays binary). permessage-deflate is accepted if
the client offers it (the websockets default: it answers with
server_max_window_bits=12; client_max_window_bits=12 when the client allows).
For each connection it prints the extensions offered and agreed, and when the
connection closes "read N bytes" (all the socket read) and then "closed by
peer with CODE". Exits on SIGTERM/SIGINT.
"""
import argparse
import asyncio
import signal
import ssl

import websockets
from websockets.legacy.server import WebSocketServerProtocol


class CountingProtocol(WebSocketServerProtocol):
    """Counts the bytes read from the socket."""

    bytes_read = 0

    def data_received(self, data):
        self.bytes_read += len(data)
        super().data_received(data)


async def echo(ws, path=None):
    print(f'connection {path or ws.path} extensions offered: {ws.request_headers.get("Sec-WebSocket-Extensions")}', flush=True)
    print(f'agreed extensions: {ws.response_headers.get("Sec-WebSocket-Extensions") or "(none)"}', flush=True)
    try:
        async for msg in ws:
            await ws.send(msg)
    finally:
        await ws.wait_closed()
        print(f'read {ws.bytes_read} bytes', flush=True)
        print(f'closed by peer with {ws.close_code}', flush=True)


async def main(tls):
    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))
    async with websockets.serve(echo, '127.0.0.1', 0, max_size=16 << 20, create_protocol=CountingProtocol,
                                ssl=tls) as server:
        port = server.sockets[0].getsockname()[1]
        print(f'listening 127.0.0.1:{port}', flush=True)
        await stop


parser = argparse.ArgumentParser(description='python3-websockets echo server on 127.0.0.1')
parser.add_argument('--cert', help='PEM certificate (chain): serve wss://')
parser.add_argument('--key', help='PEM private key of --cert')
args = parser.parse_args()
if bool(args.cert) != bool(args.key):
    parser.error('--cert and --key go together')
tls = None
if args.cert:
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(args.cert, args.key)
asyncio.run(main(tls))
