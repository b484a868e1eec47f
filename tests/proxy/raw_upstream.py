"""A real upstream written on raw sockets, for answers aiohttp would not send: chunked with
extensions and trailers, and large bodies.

``python -m tests.proxy.raw_upstream PORT``. Every answer carries ``X-Conn: N`` (the serial
number of the connection it came on). ``HEAD`` anything: 200, ``Content-Length: 5``, no body.
``GET .../chunked/...``: a chunked body ``one-two-<path>`` in separate writes, with chunk
extensions and a trailer. ``GET .../big/N``: N bytes (``0123456789`` repeated), Content-Length.
Anything else: 200 with the path as the body.
"""

from __future__ import annotations

import asyncio
import itertools
import sys

_serial = itertools.count(1)


async def _answer(writer: asyncio.StreamWriter, method: str, path: str, conn: int) -> None:
    head = f"HTTP/1.1 200 OK\r\nX-Conn: {conn}\r\nContent-Type: text/plain\r\n"
    if method == "HEAD":
        writer.write(f"{head}Content-Length: 5\r\n\r\n".encode())
    elif "/chunked/" in path:
        writer.write(f"{head}Transfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n".encode())
        for piece in (b"one-", b"two-", path.encode()):
            writer.write(b'%x;name="v";n=1\r\n%s\r\n' % (len(piece), piece))
            await writer.drain()
            await asyncio.sleep(0.005)  # separate TCP writes: the proxy sees separate pieces
        writer.write(b"0;end=1\r\nX-Sum: 42\r\n\r\n")
    elif "/big/" in path:
        size = int(path.split("/big/")[1].strip("/"))
        body = (b"0123456789" * (size // 10 + 1))[:size]
        writer.write(f"{head}Content-Length: {size}\r\n\r\n".encode() + body)
    else:
        body = path.encode()
        writer.write(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
    await writer.drain()


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    conn = next(_serial)
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, target, _ = lines[0].split(" ")
            length = 0
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            if length:
                await reader.readexactly(length)
            await _answer(writer, method, target.split("?")[0], conn)
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def main(port: int) -> None:
    server = await asyncio.start_server(_serve, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
