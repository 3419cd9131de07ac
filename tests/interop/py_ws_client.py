#!/usr/bin/python3
"""python3-websockets (Debian 10.4, legacy asyncio API) client against an echo server.

    /usr/bin/python3 py_ws_client.py ws[s]://127.0.0.1:PORT/echo [--deflate] [--server-max-window-bits N]
        [--server-no-context-takeover] [--client-no-context-takeover]
        [--expect-deflate | --expect-no-deflate] [--expect-param NAME]... [--ca FILE] [--connect-host ADDR]

Sends, one at a time: a text message (with non-ASCII), a binary message (all
256 byte values), a 1 MiB text message, an empty text and an empty binary
message, 64 KiB of random bytes (incompressible) and random blocks of 300 B,
2 KiB and 16 KiB each repeated over 64 KiB (matches that far back: a window
probe); then 300 small text messages back to back. Each must come back
equal, in order and with the same type (str for text, bytes for binary). Then
closes with 1000 and checks ws.close_code == 1000.

--deflate offers permessage-deflate as websockets does by default
("permessage-deflate; client_max_window_bits"); without it nothing is offered.
--server-max-window-bits N offers it with server_max_window_bits=N as well: the
server must then answer with N or less and compress with that window, which
websockets' decompressor enforces (zlib's "invalid distance too far back").
--server-no-context-takeover asks the server to reset its compressor after
every message; --client-no-context-takeover announces that this client resets
its own (both add the parameter to the offer).
--expect-deflate: the server must agree to permessage-deflate, and the 1 MiB
message must cross the wire compressed both ways (fewer than 64 KiB each way),
and the server's echoes of the small messages must take fewer bytes than plain
frames would (unless it agreed to server_no_context_takeover). --expect-no-deflate: no extension may be agreed.
--expect-param NAME: the response must carry that parameter.
--ca FILE (wss:// only): an ssl.SSLContext that trusts only the PEM
certificate(s) in FILE, with CERT_REQUIRED and check_hostname on: the URL's
host name (or IP literal) must match the certificate. --connect-host ADDR
opens the TCP connection to ADDR instead of the URL's host (which stays the
Host header, the SNI and the name checked), so wss://localhost:PORT/ can be
tested without resolving localhost.
Prints "PASS ..." and exits 0, or "FAIL ..." and exits 1.
"""
import asyncio
import os
import ssl
import sys

import websockets
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
from websockets.legacy.client import WebSocketClientProtocol

SMALL = 300


class CountingProtocol(WebSocketClientProtocol):
    """Counts the bytes that cross the socket each way."""

    bytes_read = 0
    bytes_written = 0

    def connection_made(self, transport):
        write = transport.write

        def counting_write(data):
            self.bytes_written += len(data)
            write(data)

        transport.write = counting_write
        super().connection_made(transport)

    def data_received(self, data):
        self.bytes_read += len(data)
        super().data_received(data)


def response_params(header):
    """The parameter names of the first extension in a Sec-WebSocket-Extensions value."""
    return [p.strip().split('=')[0] for p in (header or '').split(',')[0].split(';')[1:]]


async def main(url, deflate, offer, expect_deflate, expect_no_deflate, expect_params, tls_kwargs):
    big = ''.join(chr(97 + i % 26) for i in range(1 << 20))
    # The window probe: random blocks of 300 B, 2 KiB and 16 KiB, each repeated to fill 64 KiB. Only a compressor
    # whose window is bigger than a block reaches back to its repeats, and an inflater with a smaller window then
    # fails ("invalid distance too far back"). zlib checks only what lies behind its current output chunk (16 KiB
    # or more), hence 64 KiB of each.
    probe = b''.join(os.urandom(n) * -(-(64 << 10) // n) for n in (300, 2 << 10, 16 << 10))
    cases = [
        ('text', 'hello from python websockets \u03ba\u1f79\u03c3\u03bc\u03b5 \U0001f600'),
        ('binary', bytes(range(256))),
        ('1 MiB text', big),
        ('empty text', ''),
        ('empty binary', b''),
        ('64 KiB random', os.urandom(64 << 10)),
        ('window probe (repeats 300 B, 2 KiB, 16 KiB back)', probe),
    ]
    if offer:
        # As websockets' default offer (client_max_window_bits, memLevel 5), plus these parameters.
        kwargs = {'extensions': [ClientPerMessageDeflateFactory(compress_settings={'memLevel': 5}, **offer)],
                  'compression': None}
    else:
        kwargs = {'compression': 'deflate' if deflate else None}
    async with websockets.connect(url, max_size=4 << 20, open_timeout=10, close_timeout=10, ping_interval=None,
                                  create_protocol=CountingProtocol, **kwargs, **tls_kwargs) as ws:
        tls = ws.transport.get_extra_info('ssl_object')
        if tls is not None:
            print(f'TLS: {tls.version()} {tls.cipher()[0]}, server_hostname {tls.server_hostname!r}, '
                  f'peer certificate SAN {tls.getpeercert().get("subjectAltName")}')
        ext = ws.response_headers.get('Sec-WebSocket-Extensions')
        print(f'negotiated extensions: {ext!r} (in use: {ws.extensions})')
        if expect_deflate and not (ext and ext.split(';')[0].strip() == 'permessage-deflate' and ws.extensions):
            return f'server did not agree to permessage-deflate ({ext!r})'
        if expect_no_deflate and (ext or ws.extensions):
            return f'server agreed to {ext!r}, expected no extension'
        for p in expect_params:
            if p not in response_params(ext):
                return f'response {ext!r} lacks {p}'
        for name, data in cases:
            r0, w0 = ws.bytes_read, ws.bytes_written
            await ws.send(data)
            got = await asyncio.wait_for(ws.recv(), 10)
            if type(got) is not type(data):
                return f'{name}: sent {type(data).__name__}, came back {type(got).__name__}'
            if got != data:
                return f'{name}: came back different ({len(got)} long, sent {len(data)})'
            extra = ''
            if data is big:
                r, w = ws.bytes_read - r0, ws.bytes_written - w0
                extra = f', on the wire: {w} bytes out, {r} back'
                if expect_deflate and (r >= 64 << 10 or w >= 64 << 10):
                    return f'1 MiB text crossed uncompressed ({w} bytes written, {r} read)'
                if expect_no_deflate and (r < 1 << 20 or w < 1 << 20):
                    return f'1 MiB text took only {w} bytes out, {r} back without deflate'
            print(f'echo ok: {name} ({len(data)} {"bytes" if isinstance(data, bytes) else "chars"}{extra})')
        smalls = [f'small message {i} of {SMALL}: the quick brown fox jumps over the lazy dog' for i in range(SMALL)]
        r0 = ws.bytes_read
        for s in smalls:
            await ws.send(s)
        for i, s in enumerate(smalls):
            got = await asyncio.wait_for(ws.recv(), 10)
            if got != s:
                return f'small message {i}: came back as {got!r}'
        # Server frames are unmasked: a payload under 126 bytes has a 2-byte header.
        r, plain = ws.bytes_read - r0, sum(len(s.encode()) + 2 for s in smalls)
        print(f'echo ok: {SMALL} small messages back to back ({r} bytes back; {plain} as plain frames)')
        # With server_no_context_takeover each small message is compressed alone, where it may not shrink.
        if expect_deflate and 'server_no_context_takeover' not in response_params(ext) and r >= plain:
            return f'the server did not compress the small messages ({r} bytes read, {plain} plain)'
        await ws.close(1000, 'done')
        if ws.close_code != 1000:
            return f'close code {ws.close_code} (reason {ws.close_reason!r}), want 1000'
    return None


if __name__ == '__main__':
    argv = sys.argv[1:]
    url, deflate, offer, expect_deflate, expect_no_deflate, expect_params = None, False, {}, False, False, []
    ca, connect_host = None, None
    usage = ('usage: py_ws_client.py ws://127.0.0.1:PORT/path [--deflate] [--server-max-window-bits N] '
             '[--server-no-context-takeover] [--client-no-context-takeover] '
             '[--expect-deflate | --expect-no-deflate] [--expect-param NAME]... [--ca FILE] [--connect-host ADDR]')
    try:
        while argv:
            a = argv.pop(0)
            if a == '--deflate':
                deflate = True
            elif a == '--server-max-window-bits':
                offer['server_max_window_bits'], deflate = int(argv.pop(0)), True
            elif a in ('--server-no-context-takeover', '--client-no-context-takeover'):
                offer[a[2:].replace('-', '_')], deflate = True, True
            elif a == '--expect-deflate':
                expect_deflate = True
            elif a == '--expect-no-deflate':
                expect_no_deflate = True
            elif a == '--expect-param':
                expect_params.append(argv.pop(0))
            elif a == '--ca':
                ca = argv.pop(0)
            elif a == '--connect-host':
                connect_host = argv.pop(0)
            elif not a.startswith('--') and url is None:
                url = a
            else:
                sys.exit(usage)
    except (IndexError, ValueError):
        sys.exit(usage)
    if url is None:
        sys.exit(usage)
    offered = 'not offered' if not deflate else 'offered' + ''.join(
        f', {k}' if v is True else f', {k}={v}' for k, v in offer.items())
    tls_kwargs = {}
    if ca is not None:
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca)   # only this CA file, no system store
        assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
        tls_kwargs['ssl'] = ctx
    if connect_host is not None:
        tls_kwargs['host'] = connect_host
        if url.startswith('wss://'):
            tls_kwargs['server_hostname'] = websockets.uri.parse_uri(url).host
    label = (f'python websockets client (deflate {offered}{", --ca" if ca else ""}'
             f'{", connecting to " + connect_host if connect_host else ""}) {url}')
    try:
        why = asyncio.run(asyncio.wait_for(main(url, deflate, offer, expect_deflate, expect_no_deflate,
                                                expect_params, tls_kwargs), 20))
    except Exception as e:  # noqa: BLE001 - any failure is a test failure
        why = f'{type(e).__name__}: {e}'
    if why:
        print(f'FAIL {label}: {why}')
        sys.exit(1)
    print(f'PASS {label}: {7 + SMALL} messages echoed, closed 1000')
