#!/usr/bin/python3
"""A bad peer for tests/integration/bad_peer.sh (Python 3 standard library only).

usage: bad_peer.py PORT ATTACK [VECTORS_DIR]

Connects to a `chum run` node on 127.0.0.1:PORT and misbehaves in one way (ATTACK), then
reports on one line what the node did: "closed CODE REASON" (a WebSocket close frame),
"http STATUS" (an HTTP answer to a bad upgrade), "eof" (the socket closed without a close
frame), "reset" or "open" (still open after the wait). Exit 0 if the node ended the
connection, 1 if it did not (or kept answering after being attacked). Every socket talks to
127.0.0.1 only, and every wait has a timeout.

Attacks:
  garbage       bytes that are no HTTP request before the WebSocket upgrade
  garbage-rst   the same, then the socket is reset at once (SO_LINGER 0) without reading
  silent        connect and send nothing (the node's opening timeout must end it)
  oversized     a valid upgrade, then a frame header announcing 2^40 bytes
  bad-json      a valid upgrade, then a text frame that is not the handshake JSON
  replay        a valid upgrade, then bob's recorded handshake frames from
                VECTORS_DIR/connection/handshake-direct/chum/bob.wire.jsonl, each after the
                node's answer (a replay cannot answer the node's fresh ephemeral key)
  flood         many idle upgraded connections at once (none must starve the good peer)
"""
import base64
import json
import os
import socket
import struct
import sys
import time

WAIT = 15.0  # the node's handshake timeout is 10 s (CHUM_HANDSHAKE_TIMEOUT_MS)


def frame(op, payload=b"", length=None):
    """A masked client frame (RFC 6455 §5.2)."""
    n = len(payload) if length is None else length
    if n < 126:
        hdr = struct.pack("!BB", 0x80 | op, 0x80 | n)
    elif n < 65536:
        hdr = struct.pack("!BBH", 0x80 | op, 0x80 | 126, n)
    else:
        hdr = struct.pack("!BBQ", 0x80 | op, 0x80 | 127, n)
    key = os.urandom(4)
    return hdr + key + bytes(c ^ key[i % 4] for i, c in enumerate(payload))


class Peer:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
        self.buf = b""

    def read(self, n, deadline):
        while len(self.buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no answer in time")
            self.s.settimeout(left)
            chunk = self.s.recv(65536)
            if not chunk:
                raise EOFError("eof")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def upgrade(self):
        key = base64.b64encode(os.urandom(16)).decode()
        self.s.sendall(("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                        "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                        "Sec-WebSocket-Version: 13\r\n\r\n" % key).encode())
        deadline = time.monotonic() + WAIT
        while b"\r\n\r\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no upgrade answer in time")
            self.s.settimeout(left)
            chunk = self.s.recv(4096)
            if not chunk:
                raise EOFError("eof during the upgrade")
            self.buf += chunk
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        if not head.startswith(b"HTTP/1.1 101"):
            raise RuntimeError("upgrade refused: %r" % head[:60])

    def next_frame(self, deadline):
        """(opcode, payload) of the node's next frame."""
        b0, b1 = self.read(2, deadline)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self.read(2, deadline))[0]
        elif n == 127:
            n = struct.unpack("!Q", self.read(8, deadline))[0]
        return b0 & 0x0F, self.read(n, deadline)

    def outcome(self, wait=WAIT):
        """Read until the node closes; skip data frames. Returns the report line."""
        deadline = time.monotonic() + wait
        try:
            if self.buf.startswith(b"HTTP/") or not self.buf:
                # a bad upgrade may be answered with an HTTP status
                first = self.read(1, deadline)
                if first == b"H":
                    rest = b"H"
                    while b"\r\n" not in rest:
                        rest += self.read(1, deadline)
                    return "http " + rest.split(b" ")[1].decode()
                self.buf = first + self.buf
            while True:
                op, payload = self.next_frame(deadline)
                if op == 8:
                    code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                    try:
                        self.s.sendall(frame(8, payload[:2]))
                    except OSError:
                        pass
                    return "closed %d %s" % (code, payload[2:].decode("utf-8", "replace"))
        except EOFError:
            return "eof"
        except ConnectionResetError:
            return "reset"
        except (TimeoutError, socket.timeout):
            return "open"

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


def recorded_frames(vectors):
    path = os.path.join(vectors, "connection/handshake-direct/chum/bob.wire.jsonl")
    out = []
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            if r.get("layer") == "ws" and r.get("dir") == "out" and r.get("conn") == 1:
                if r["kind"] == "text":
                    out.append((1, r["text"].encode()))
                elif r["kind"] == "binary":
                    out.append((2, bytes.fromhex(r["hex"])))
    return out


def attack(port, what, vectors):
    p = Peer(port)
    print("%s: from port %d" % (what, p.s.getsockname()[1]), flush=True)
    try:
        if what in ("garbage", "garbage-rst"):
            p.s.sendall(b"\x16\x03\x01\x02\x00GARBAGE \xff\xfe not http\r\n\r\n")
            if what == "garbage-rst":
                p.s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                p.close()
                return "reset-sent", True
            r = p.outcome()
            return r, r != "open"
        if what == "silent":
            r = p.outcome()
            return r, r != "open"
        p.upgrade()
        if what == "oversized":
            p.s.sendall(frame(2, b"x" * 64, length=1 << 40)[:14] + b"x" * 64)
        elif what == "bad-json":
            p.s.sendall(frame(1, b'{"command":"communication_request","sourcePublicKey":'))
        elif what == "replay":
            frames = recorded_frames(vectors)
            if len(frames) < 3:
                return "no recorded frames in %s" % vectors, False
            # the request, then bob's ephemeral key frame after the node's answers
            deadline = time.monotonic() + WAIT
            for i, (op, data) in enumerate(frames[:3]):
                p.s.sendall(frame(op, data))
                if i == 0:  # communication_ready
                    op2, _ = p.next_frame(deadline)
                    if op2 == 8:
                        p.buf = b""
                        return "closed at the request", True
                elif i == 1:  # the node's ephemeral key frame
                    op2, _ = p.next_frame(deadline)
                    if op2 == 8:
                        return "closed after the ephemeral key", True
        r = p.outcome()
        return r, r != "open"
    finally:
        p.close()


def flood(port, n):
    peers = []
    try:
        for _ in range(n):
            try:
                q = Peer(port)
                q.upgrade()
                peers.append(q)
            except (OSError, RuntimeError, EOFError, TimeoutError):
                break
        return "opened %d" % len(peers), True
    finally:
        for q in peers:
            q.close()


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    port, what = int(sys.argv[1]), sys.argv[2]
    vectors = sys.argv[3] if len(sys.argv) > 3 else ""
    try:
        if what == "flood":
            line, ok = flood(port, 24)
        else:
            line, ok = attack(port, what, vectors)
    except (OSError, RuntimeError, EOFError) as e:
        line, ok = "error %s" % e, False
    print("%s: %s" % (what, line))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
