"""A real upstream whose answers are chunked, for the raw proxy's framing tests.

``python -m tests.bench.chunked_upstream PORT``: every request is answered 200 with a chunked
body of three pieces (``one-``, ``two-``, the request's path), written with pauses between
them so they leave in separate chunks.
"""

from __future__ import annotations

import asyncio
import sys

from aiohttp import web


async def handle(request: web.BaseRequest) -> web.StreamResponse:
    response = web.StreamResponse(status=200, headers={"Content-Type": "text/plain"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    for piece in (b"one-", b"two-", request.path.encode()):
        await response.write(piece)
        await asyncio.sleep(0.01)  # separate TCP writes, so the proxy sees separate chunks
    await response.write_eof()
    return response


async def serve(port: int) -> None:
    runner = web.ServerRunner(web.Server(handle))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    await asyncio.Event().wait()  # until the test stops the process


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1])))
