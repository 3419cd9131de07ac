"""raw_ws.py: a raw-socket WebSocket client for the interop tests that must
send what no library would (unmasked frames, bad UTF-8, stalled heads) or
read exactly what the server sent (status lines, Close codes, its FIN).

Used by bad_input_test.py and server_features_test.py. Every read has a
deadline; failures raise Fail with what was (or was not) received.
"""
import os
import re
import socket
import time

KEY = 'dGhlIHNhbXBsZSBub25jZQ=='
ACCEPT = 's3pPLMBiTxaQ9kYGzzhZRbK+xOo='  # RFC 6455 section 1.3's example pair


class Fail(Exception):
    pass


def check(cond, why):
    if not cond:
        raise Fail(why)


def upgrade_request(path='/echo', version='13'):
    return (f'GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'
            f'Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: {version}\r\n\r\n').encode()


def frame(opcode, payload, masked=True, fin=True):
    """One client frame: masked with a random key unless asked otherwise (RFC 6455 section 5.2)."""
    head = bytes([(0x80 if fin else 0) | opcode])
    bit = 0x80 if masked else 0
    n = len(payload)
    if n < 126:
        head += bytes([bit | n])
    elif n < 1 << 16:
        head += bytes([bit | 126]) + n.to_bytes(2, 'big')
    else:
        head += bytes([bit | 127]) + n.to_bytes(8, 'big')
    if not masked:
        return head + payload
    key = os.urandom(4)
    mask = (key * (n // 4 + 1))[:n]
    return head + key + (int.from_bytes(payload, 'big') ^ int.from_bytes(mask, 'big')).to_bytes(n, 'big')


class Raw:
    """One raw TCP connection to the server on 127.0.0.1, read with deadlines."""

    def __init__(self, port, bind=None, rcvbuf=None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        if bind:
            self.sock.bind((bind, 0))
        self.sock.settimeout(5)
        self.sock.connect(('127.0.0.1', port))
        self.buf = b''
        self.eof = False
        self.reset = False

    def send(self, data):
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may already have answered and closed; what it sent is still read

    def _fill(self, deadline, n=65536):
        if self.eof:
            return False
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(n)
        except socket.timeout:
            return False
        except ConnectionResetError:
            self.eof = self.reset = True
            return False
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def why(self):
        return 'reset' if self.reset else 'eof' if self.eof else 'timeout'

    def read_http_head(self, seconds=5):
        """(status, lower-cased headers) of one HTTP response; reads no further than the head."""
        deadline = time.monotonic() + seconds
        while b'\r\n\r\n' not in self.buf:
            if not self._fill(deadline, 1):  # byte by byte: what follows the head stays in the socket
                raise Fail(f'no complete HTTP response head (got {self.buf[:200]!r}, {self.why()})')
        head, self.buf = self.buf.split(b'\r\n\r\n', 1)
        lines = head.decode('latin1').split('\r\n')
        m = re.match(r'HTTP/1\.1 (\d{3}) ', lines[0] + ' ')
        check(m, f'bad status line {lines[0]!r}')
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(':')
            headers[name.strip().lower()] = value.strip()
        return int(m.group(1)), headers

    def read_body(self, headers, seconds=5):
        n = int(headers.get('content-length', '0'))
        deadline = time.monotonic() + seconds
        while len(self.buf) < n and self._fill(deadline):
            pass
        body, self.buf = self.buf[:n], self.buf[n:]
        return body

    def read_frame(self, seconds=5):
        """(opcode, payload) of one unmasked, unfragmented server frame."""
        deadline = time.monotonic() + seconds

        def need(k):
            while len(self.buf) < k:
                if not self._fill(deadline):
                    raise Fail(f'no complete frame from the server (have {self.buf[:40]!r}, {self.why()})')
        need(2)
        b0, b1 = self.buf[0], self.buf[1]
        check(not b1 & 0x80, 'the server sent a masked frame')
        check(b0 & 0x80, 'the server sent a fragment (FIN clear)')
        n, off = b1 & 0x7f, 2
        if n == 126:
            need(4)
            n, off = int.from_bytes(self.buf[2:4], 'big'), 4
        elif n == 127:
            need(10)
            n, off = int.from_bytes(self.buf[2:10], 'big'), 10
        need(off + n)
        payload, self.buf = self.buf[off:off + n], self.buf[off + n:]
        return b0 & 0x0f, payload

    def wait_closed(self, seconds, keep=True):
        """True if the server closed (FIN or RST) within seconds. What came
        before is kept in buf, or dropped as it comes (keep=False: a peer
        that streams a lot before its FIN)."""
        deadline = time.monotonic() + seconds
        while not self.eof and time.monotonic() < deadline:
            if self._fill(deadline) and not keep:
                self.buf = b''
        return self.eof

    def close(self):
        self.sock.close()
