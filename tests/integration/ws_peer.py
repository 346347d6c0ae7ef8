#!/usr/bin/python3
"""Independent WebSocket peers for tests/integration/ws_echo.sh.

Interop with Python `websockets` (Debian python3-websockets) as client and server, and the
negative cases of the Autobahn test-suite case list sent over raw sockets (the standard library
only), checking the close code chum answers with. Every socket talks to 127.0.0.1 only, and
every wait has a timeout.
"""
import asyncio
import base64
import os
import socket
import struct
import sys

TIMEOUT = 5.0


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


# ---- raw RFC 6455 helpers (stdlib only) ---------------------------------------------------

def frame(op, payload=b"", fin=True, rsv=0, mask=True, length=None):
    b0 = (0x80 if fin else 0) | (rsv << 4) | op
    n = len(payload) if length is None else length
    m = 0x80 if mask else 0
    if n < 126:
        hdr = struct.pack("!BB", b0, m | n)
    elif n < 65536:
        hdr = struct.pack("!BBH", b0, m | 126, n)
    else:
        hdr = struct.pack("!BBQ", b0, m | 127, n)
    if not mask:
        return hdr + payload
    key = os.urandom(4)
    body = bytes(c ^ key[i % 4] for i, c in enumerate(payload))
    return hdr + key + body


def read_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise EOFError("closed")
        buf += chunk
    return buf


def read_frame(s):
    b0, b1 = read_exact(s, 2)
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack("!H", read_exact(s, 2))[0]
    elif n == 127:
        n = struct.unpack("!Q", read_exact(s, 8))[0]
    key = read_exact(s, 4) if b1 & 0x80 else None
    data = read_exact(s, n)
    if key:
        data = bytes(c ^ key[i % 4] for i, c in enumerate(data))
    return b0 & 0x0F, data, bool(b1 & 0x80)


def raw_connect(port, path="/"):
    s = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
               "Sec-WebSocket-Version: 13\r\n\r\n" % (path, port, key)).encode())
    head = b""
    while b"\r\n\r\n" not in head:
        c = s.recv(1)
        if not c:
            fail("server closed during the handshake")
        head += c
    if not head.startswith(b"HTTP/1.1 101"):
        fail("no 101: %r" % head[:80])
    return s


def expect_close(s, want, name):
    """Read frames until a close; check its code; any other end is a failure."""
    try:
        while True:
            op, data, masked = read_frame(s)
            if masked:
                fail("%s: the server masked a frame" % name)
            if op == 8:
                code = struct.unpack("!H", data[:2])[0] if len(data) >= 2 else 1005
                if code != want:
                    fail("%s: close code %d, want %d" % (name, code, want))
                return
    except (EOFError, socket.timeout, ConnectionResetError) as e:
        fail("%s: no close frame (%s)" % (name, e))


def negatives(port):
    """Autobahn-style protocol violations sent to chum's server."""
    cases = [
        ("unmasked client frame", [frame(1, b"x", mask=False)], 1002),
        ("RSV1 without extension", [frame(1, b"x", rsv=4)], 1002),
        ("reserved opcode 3", [frame(3, b"")], 1002),
        ("reserved opcode 11", [frame(11, b"")], 1002),
        ("fragmented ping", [frame(9, b"x", fin=False)], 1002),
        ("ping of 126 bytes", [frame(9, b"x" * 126)], 1002),
        ("continuation without start", [frame(0, b"x")], 1002),
        ("text inside text", [frame(1, b"a", fin=False), frame(1, b"b")], 1002),
        ("invalid UTF-8 (surrogate)", [frame(1, b"\xed\xa0\x80")], 1007),
        ("invalid UTF-8 split over fragments",
         [frame(1, b"\xce", fin=False), frame(0, b"A")], 1007),
        ("invalid close code 1005", [frame(8, struct.pack("!H", 1005))], 1002),
        ("invalid close code 999", [frame(8, struct.pack("!H", 999))], 1002),
        ("close of one byte", [frame(8, b"\x03")], 1002),
        ("close reason not UTF-8", [frame(8, struct.pack("!H", 1000) + b"\xff")], 1007),
        ("oversize message", [frame(2, b"z" * 9000)], 1009),
    ]
    for name, frames, code in cases:
        s = raw_connect(port)
        s.sendall(b"".join(frames))
        expect_close(s, code, name)
        s.close()
        print("ok - negative: %s -> %d" % (name, code))
    # a ping inside a fragmented message is fine: pong, then the whole message echoed
    s = raw_connect(port)
    s.sendall(frame(1, b"Hel", fin=False) + frame(9, b"p") + frame(0, b"lo"))
    got = []
    while len(got) < 2:
        op, data, _ = read_frame(s)
        got.append((op, data))
    if got != [(10, b"p"), (1, b"Hello")]:
        fail("ping inside a fragmented message: %r" % got)
    s.sendall(frame(8, struct.pack("!H", 1000)))
    expect_close(s, 1000, "clean close")
    s.close()
    print("ok - ping inside a fragmented message, clean close")
    # a bad upgrade gets an HTTP error status
    s = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    r = s.recv(200)
    if not r.startswith(b"HTTP/1.1 426"):
        fail("plain GET: %r" % r[:60])
    s.close()
    s = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Version: 13\r\n\r\n")
    r = s.recv(200)
    if not r.startswith(b"HTTP/1.1 400"):
        fail("upgrade without key: %r" % r[:60])
    s.close()
    print("ok - bad upgrades answered 426 and 400")


def masked_server(port_file):
    """A raw server that answers the upgrade and then sends a masked frame: chum's client must
    fail the connection with 1002."""
    import hashlib
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(1)
    ls.settimeout(TIMEOUT * 2)
    with open(port_file, "w") as f:
        f.write(str(ls.getsockname()[1]))
    s, _ = ls.accept()
    s.settimeout(TIMEOUT)
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(1024)
    key = [l.split(b":", 1)[1].strip() for l in head.split(b"\r\n")
           if l.lower().startswith(b"sec-websocket-key")][0]
    acc = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
    s.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Accept: " + acc + b"\r\n\r\n")
    s.sendall(frame(1, b"masked!", mask=True))
    try:
        while True:
            op, data, masked = read_frame(s)
            if op == 8:
                code = struct.unpack("!H", data[:2])[0]
                if code != 1002:
                    fail("client closed with %d, want 1002" % code)
                if not masked:
                    fail("client close frame not masked")
                print("ok - chum client refuses a masked server frame with 1002")
                return
    except (EOFError, socket.timeout) as e:
        fail("client did not send a close frame: %s" % e)


# ---- python websockets (independent implementation) ----------------------------------------

async def ws_client(url):
    import websockets
    async with websockets.connect(url, max_size=2 ** 20, open_timeout=TIMEOUT) as ws:
        for msg in ["hello", "ünïcödé ✓", "x" * 125, "y" * 126, "z" * 8000, ""]:
            await ws.send(msg)
            r = await asyncio.wait_for(ws.recv(), TIMEOUT)
            if r != msg:
                fail("text echo of %d chars came back as %r" % (len(msg), r[:40]))
        for msg in [b"\x00\x01\xff", bytes(range(256)) * 31]:
            await ws.send(msg)
            r = await asyncio.wait_for(ws.recv(), TIMEOUT)
            if r != msg:
                fail("binary echo of %d bytes differs" % len(msg))
        # a fragmented message from websockets (an async iterator sends fragments)
        async def parts():
            for p in ["frag", "mented", " message"]:
                yield p
        await ws.send(parts())
        r = await asyncio.wait_for(ws.recv(), TIMEOUT)
        if r != "fragmented message":
            fail("fragmented echo: %r" % r)
        pong = await ws.ping(b"are you there")
        await asyncio.wait_for(pong, TIMEOUT)
        await ws.close(1000, "done")
        if ws.close_code != 1000:
            fail("close code %s" % ws.close_code)
    print("ok - python websockets client <-> chum ws serve --echo")


async def ws_server(port_file, count):
    import websockets
    done = asyncio.get_running_loop().create_future()
    seen = []

    async def handler(ws, path=None):
        async for m in ws:
            seen.append(m)
            await ws.send(m)
        if not done.done():
            done.set_result(ws.close_code)

    async with websockets.serve(handler, "127.0.0.1", 0, max_size=2 ** 20) as server:
        port = server.sockets[0].getsockname()[1]
        with open(port_file, "w") as f:
            f.write(str(port))
        code = await asyncio.wait_for(done, TIMEOUT * 4)
    if len(seen) != count:
        fail("python server got %d messages, want %d" % (len(seen), count))
    if code != 1000:
        fail("chum client closed with %s, want 1000" % code)
    print("ok - chum ws connect <-> python websockets server (%d messages, close 1000)" % count)


def wsproto_client(port):
    """wsproto (Debian python3-wsproto), a sans-IO implementation, as the client."""
    from wsproto import WSConnection, ConnectionType
    from wsproto.events import (Request, AcceptConnection, TextMessage, BytesMessage,
                                CloseConnection, Ping, Pong)
    s = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    c = WSConnection(ConnectionType.CLIENT)
    s.sendall(c.send(Request(host="127.0.0.1:%d" % port, target="/wsproto")))
    got = []

    def pump(want):
        while len([e for e in got if isinstance(e, want)]) == 0:
            data = s.recv(65536)
            if not data:
                fail("wsproto: connection closed")
            c.receive_data(data)
            for e in c.events():
                if isinstance(e, Ping):
                    s.sendall(c.send(e.response()))
                got.append(e)
        ev = [e for e in got if isinstance(e, want)][0]
        got.remove(ev)
        return ev

    pump(AcceptConnection)
    # a text message in three fragments, then binary
    s.sendall(c.send(TextMessage(data="wsp", message_finished=False)) +
              c.send(TextMessage(data="roto ✓", message_finished=False)) +
              c.send(TextMessage(data="!", message_finished=True)))
    text = ""
    while True:
        e = pump(TextMessage)
        text += e.data
        if e.message_finished:
            break
    if text != "wsproto ✓!":
        fail("wsproto text echo: %r" % text)
    payload = bytes(range(256)) * 20
    s.sendall(c.send(BytesMessage(data=payload)))
    data = b""
    while True:
        e = pump(BytesMessage)
        data += e.data
        if e.message_finished:
            break
    if data != payload:
        fail("wsproto binary echo differs")
    s.sendall(c.send(Ping(payload=b"wsp")))
    if pump(Pong).payload != b"wsp":
        fail("wsproto pong payload")
    s.sendall(c.send(CloseConnection(code=1000, reason="bye")))
    e = pump(CloseConnection)
    if e.code != 1000:
        fail("wsproto close code %d" % e.code)
    s.close()
    print("ok - python wsproto client <-> chum ws serve --echo (fragments, binary, ping, close)")


def wsproto_server(port_file, count):
    """wsproto as the server: accepts one chum client, pings it, echoes every message (each
    piece as it arrives, so long messages go back fragmented), and exits 0 after `count`
    messages and a close 1000."""
    from wsproto import WSConnection, ConnectionType
    from wsproto.events import (Request, AcceptConnection, TextMessage, BytesMessage,
                                CloseConnection, Ping, Pong)
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.bind(("127.0.0.1", 0))
    ls.listen(1)
    ls.settimeout(TIMEOUT * 4)
    with open(port_file, "w") as f:
        f.write(str(ls.getsockname()[1]))
    s, _ = ls.accept()
    s.settimeout(TIMEOUT)
    c = WSConnection(ConnectionType.SERVER)
    msgs = 0
    pinged = False
    ponged = False
    while True:
        data = s.recv(65536)
        if not data:
            fail("wsproto server: chum closed the TCP connection without a close frame")
        c.receive_data(data)
        for e in c.events():
            if isinstance(e, Request):
                if e.target != "/":
                    fail("wsproto server: target %r" % e.target)
                s.sendall(c.send(AcceptConnection()))
            elif isinstance(e, TextMessage):
                s.sendall(c.send(TextMessage(data=e.data, message_finished=e.message_finished)))
                if e.message_finished:
                    msgs += 1
                    if not pinged:
                        s.sendall(c.send(Ping(payload=b"srv")))
                        pinged = True
            elif isinstance(e, BytesMessage):
                s.sendall(c.send(BytesMessage(data=e.data, message_finished=e.message_finished)))
                if e.message_finished:
                    msgs += 1
            elif isinstance(e, Pong):
                if e.payload != b"srv":
                    fail("wsproto server: pong payload %r" % e.payload)
                ponged = True
            elif isinstance(e, Ping):
                s.sendall(c.send(e.response()))
            elif isinstance(e, CloseConnection):
                if e.code != 1000:
                    fail("wsproto server: chum closed with %d" % e.code)
                s.sendall(c.send(e.response()))
                s.close()
                if msgs != count:
                    fail("wsproto server got %d messages, want %d" % (msgs, count))
                if not ponged:
                    fail("wsproto server: chum did not answer the ping")
                print("ok - chum ws connect <-> python wsproto server (%d messages, ping answered,"
                      " close 1000)" % msgs)
                return


async def wss_server(port_file, cert, key):
    """A TLS echo server (Python websockets + ssl) on localhost, for chum's wss:// client."""
    import ssl
    import websockets
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)

    async def handler(ws, path=None):
        async for m in ws:
            await ws.send(m)

    async with websockets.serve(handler, "localhost", 0, ssl=ctx) as server:
        with open(port_file, "w") as f:
            f.write(str(server.sockets[0].getsockname()[1]))
        await asyncio.sleep(60)


def main():
    cmd = sys.argv[1]
    if cmd == "negatives":
        negatives(int(sys.argv[2]))
    elif cmd == "masked-server":
        masked_server(sys.argv[2])
    elif cmd == "ws-client":
        asyncio.run(ws_client(sys.argv[2]))
    elif cmd == "ws-server":
        asyncio.run(ws_server(sys.argv[2], int(sys.argv[3])))
    elif cmd == "wss-server":
        try:
            asyncio.run(wss_server(sys.argv[2], sys.argv[3], sys.argv[4]))
        except KeyboardInterrupt:
            pass
    elif cmd == "wsproto-client":
        wsproto_client(int(sys.argv[2]))
    elif cmd == "wsproto-server":
        wsproto_server(sys.argv[2], int(sys.argv[3]))
    elif cmd == "has-wsproto":
        try:
            import wsproto  # noqa: F401
        except ImportError:
            sys.exit(1)
    elif cmd == "has-websockets":
        try:
            import websockets  # noqa: F401
        except ImportError:
            sys.exit(1)
    else:
        fail("unknown command " + cmd)


if __name__ == "__main__":
    main()
