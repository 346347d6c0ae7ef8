#!/usr/bin/env python3
"""A small TLS terminator for the wss:// tests (tests/integration/wss.sh): accepts TLS
(OpenSSL, Python's ssl module) on 127.0.0.1 and forwards the plaintext bytes both ways to a
port on 127.0.0.1, like nginx or a cloud load balancer in front of a ws:// server.

usage: tls_proxy.py PORTFILE CERT KEY TARGET_PORT [SECONDS]
  Listens on 127.0.0.1 (a free port, written to PORTFILE once listening), serves CERT/KEY,
  forwards each connection to 127.0.0.1:TARGET_PORT, and exits after SECONDS (default 120).
  Only 127.0.0.1 is used."""
import asyncio
import ssl
import sys


async def pipe(reader, writer):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionError, ssl.SSLError, OSError):
        pass
    finally:
        try:
            if writer.can_write_eof():
                writer.write_eof()
            else:
                writer.close()
        except (ConnectionError, ssl.SSLError, OSError, RuntimeError):
            pass


async def serve(portfile, cert, key, target, seconds):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    counts = {"accepted": 0}

    async def handle(creader, cwriter):
        counts["accepted"] += 1
        try:
            ureader, uwriter = await asyncio.open_connection("127.0.0.1", target)
        except OSError as e:
            print(f"upstream 127.0.0.1:{target}: {e}", file=sys.stderr, flush=True)
            cwriter.close()
            return
        await asyncio.gather(pipe(creader, uwriter), pipe(ureader, cwriter))
        for w in (cwriter, uwriter):
            try:
                w.close()
            except (ConnectionError, ssl.SSLError, OSError, RuntimeError):
                pass

    loop = asyncio.get_running_loop()

    def on_error(loop_, context):
        exc = context.get("exception")
        if isinstance(exc, ssl.SSLError):
            print(f"handshake failed: {exc}", file=sys.stderr, flush=True)
        elif exc is not None and not isinstance(exc, (ConnectionError, OSError)):
            loop_.default_exception_handler(context)

    loop.set_exception_handler(on_error)
    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=ctx,
                                        ssl_handshake_timeout=10)
    port = server.sockets[0].getsockname()[1]
    with open(portfile + ".tmp", "w") as f:
        f.write(str(port))
    import os
    os.rename(portfile + ".tmp", portfile)
    print(f"tls proxy 127.0.0.1:{port} -> 127.0.0.1:{target}", flush=True)
    try:
        await asyncio.wait_for(server.serve_forever(), timeout=seconds)
    except asyncio.TimeoutError:
        pass


def main():
    if len(sys.argv) < 5:
        print(__doc__, file=sys.stderr)
        return 2
    seconds = float(sys.argv[5]) if len(sys.argv) > 5 else 120.0
    try:
        asyncio.run(serve(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), seconds))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
