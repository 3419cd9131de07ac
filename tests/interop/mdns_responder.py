#!/usr/bin/python3
"""A real mDNS responder for tests/interop/mdns_resolve_test.sh: Debian's
python3-zeroconf (not ours) registers a service whose host (SRV target) is
NAME with the IPv4 address ADDR, so that it answers A queries for NAME
(RFC 6762), including one-shot queries from an ephemeral port (§6.7).

    mdns_responder.py NAME ADDR [INTERFACE_ADDR]

Prints "ready NAME ADDR" once the name is registered (after zeroconf's
probing, RFC 6762 §8.1), then serves until SIGTERM or SIGINT.
"""
import signal
import socket
import sys
import threading

from zeroconf import IPVersion, ServiceInfo, Zeroconf


def main() -> int:
    if len(sys.argv) not in (3, 4):
        print(__doc__, file=sys.stderr)
        return 2
    name, addr = sys.argv[1], sys.argv[2]
    if not name.endswith('.'):
        name += '.'
    iface = sys.argv[3] if len(sys.argv) == 4 else '127.0.0.1'
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    # Only the given interface (loopback in the test's namespace), IPv4 only.
    zc = Zeroconf(interfaces=[iface], ip_version=IPVersion.V4Only)
    info = ServiceInfo(
        '_duplex-test._udp.local.',
        'duplex mdns test._duplex-test._udp.local.',
        addresses=[socket.inet_aton(addr)],
        port=9,
        server=name,
    )
    zc.register_service(info)
    print(f'ready {name} {addr}', flush=True)
    stop.wait()
    zc.unregister_service(info)
    zc.close()
    return 0


if __name__ == '__main__':
    sys.exit(main())
