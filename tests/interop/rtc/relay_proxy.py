#!/usr/bin/python3
"""A signaling proxy that puts a lossy UDP relay (lossy_relay.py) between a peer that cannot run one itself (a
browser) and the peers it meets through duplex-server's /signal (docs/signaling.md).

    relay_proxy.py --upstream ws://127.0.0.1:PORT/signal --relay 'loss=0.05,delay_ms=30,burst=12:300,seed=7'

The local peer connects to the proxy instead of the signaling server (one WebSocket; more are refused); the proxy
opens its own connection upstream and passes every message both ways, rewriting on the way what names an address:
`candidate` messages and the a=candidate lines (and default m=/c= addresses) of `offer`/`answer` SDPs. The local
peer's addresses become relay sockets that face the others, and theirs become relay sockets that face the local
peer (lossy_relay.py explains the mapping and the impairment), so every datagram between them crosses the relay.
Candidates the relay cannot carry (TCP) are left out. Prints `listening ws://127.0.0.1:PORT/signal` once ready; on
SIGTERM or SIGINT (or when the local peer's WebSocket closes) prints the relay's `RELAY …` counts and exits 0.
"""
import argparse
import asyncio
import json
import signal
import sys

import websockets

sys.path.insert(0, __import__('os').path.dirname(__file__))
from lossy_relay import LossyRelay, RelayConfig  # noqa: E402


def log(*a):
    print('[relay_proxy]', *a, file=sys.stderr, flush=True)


async def rewrite(relay, msg, mapper):
    """The message with its addresses mapped; None when nothing of it is left to send."""
    t = msg.get('type')
    if t in ('offer', 'answer') and isinstance(msg.get('sdp'), str):
        msg['sdp'] = await relay.rewrite_sdp(msg['sdp'], mapper)
    elif t == 'candidate' and isinstance(msg.get('candidate'), str) and msg['candidate']:
        new = await relay.rewrite_candidate(msg['candidate'], mapper)
        if new is None:
            return None
        msg['candidate'] = new
    return msg


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--upstream', required=True)
    ap.add_argument('--relay', required=True)
    args = ap.parse_args()
    loop = asyncio.get_running_loop()
    relay = LossyRelay(loop, RelayConfig.parse(args.relay), log, names=('local', 'remote'))
    log(f'relay {relay.config}')
    done = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, done.set)
    busy = False

    async def handle(down, _path):
        nonlocal busy
        if busy:
            await down.close(1013, 'one peer at a time')
            return
        busy = True
        async with websockets.connect(args.upstream, max_size=None) as up:
            async def pump(src, dst, mapper, name):
                async for raw in src:
                    if isinstance(raw, bytes):
                        await dst.send(raw)
                        continue
                    try:
                        msg = json.loads(raw)
                    except ValueError:
                        await dst.send(raw)
                        continue
                    if isinstance(msg, dict):
                        msg = await rewrite(relay, msg, mapper)
                        if msg is None:
                            continue
                        raw = json.dumps(msg)
                    await dst.send(raw)
            tasks = [asyncio.create_task(pump(down, up, relay.map_local, 'local->up')),
                     asyncio.create_task(pump(up, down, relay.map_remote, 'up->local'))]
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for t in tasks:
                t.cancel()
        done.set()

    server = await websockets.serve(handle, '127.0.0.1', 0, max_size=None)
    port = server.sockets[0].getsockname()[1]
    print(f'listening ws://127.0.0.1:{port}/signal', flush=True)
    await done.wait()
    server.close()
    for line in relay.summary():
        print(line, flush=True)
    relay.close()


if __name__ == '__main__':
    asyncio.run(main())
