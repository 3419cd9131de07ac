#!/usr/bin/python3
"""python3-websockets (Debian 10.4, legacy asyncio API) client against an echo server.

    /usr/bin/python3 py_ws_client.py ws://127.0.0.1:PORT/echo [--deflate]

Sends a text message (with non-ASCII), a binary message (all 256 byte values)
and a 1 MiB text message, one at a time; each must come back equal and with
the same type (str for text, bytes for binary). Then closes with 1000 and
checks ws.close_code == 1000. --deflate offers permessage-deflate (the
websockets default); without it nothing is offered. Prints "PASS ..." and
exits 0, or "FAIL ..." and exits 1.
"""
import asyncio
import sys

import websockets


async def main(url, deflate):
    big = ''.join(chr(97 + i % 26) for i in range(1 << 20))
    cases = [
        ('text', 'hello from python websockets \u03ba\u1f79\u03c3\u03bc\u03b5 \U0001f600'),
        ('binary', bytes(range(256))),
        ('1 MiB text', big),
    ]
    async with websockets.connect(url, max_size=4 << 20, compression='deflate' if deflate else None,
                                  open_timeout=10, close_timeout=10, ping_interval=None) as ws:
        ext = ws.response_headers.get('Sec-WebSocket-Extensions')
        print(f'negotiated extensions: {ext!r}' + (' (offer declined)' if deflate and not ext else ''))
        for name, data in cases:
            await ws.send(data)
            got = await asyncio.wait_for(ws.recv(), 10)
            if type(got) is not type(data):
                return f'{name}: sent {type(data).__name__}, came back {type(got).__name__}'
            if got != data:
                return f'{name}: came back different ({len(got)} long, sent {len(data)})'
            print(f'echo ok: {name} ({len(data)} {"bytes" if isinstance(data, bytes) else "chars"})')
        await ws.close(1000, 'done')
        if ws.close_code != 1000:
            return f'close code {ws.close_code} (reason {ws.close_reason!r}), want 1000'
    return None


if __name__ == '__main__':
    if len(sys.argv) < 2:
        sys.exit('usage: py_ws_client.py ws://127.0.0.1:PORT/path [--deflate]')
    url, deflate = sys.argv[1], '--deflate' in sys.argv[2:]
    label = f'python websockets client (deflate offered: {deflate}) {url}'
    try:
        why = asyncio.run(asyncio.wait_for(main(url, deflate), 20))
    except Exception as e:  # noqa: BLE001 - any failure is a test failure
        why = f'{type(e).__name__}: {e}'
    if why:
        print(f'FAIL {label}: {why}')
        sys.exit(1)
    print(f'PASS {label}: 3 messages echoed, closed 1000')
