"""A deliberately trivial HTTP/1.1 upstream for benchmarks: keep-alive, one fixed JSON answer.

Raw asyncio protocol on uvloop, so it is far faster than any proxy in front of it and the
benchmark measures the proxy, not the upstream. Only bodiless requests (GET/HEAD) are expected.
Run: ``python -m bench.fast_upstream PORT``.
"""

from __future__ import annotations

import asyncio
import sys

import uvloop

BODY = b'{"sku": "SKU-00001", "name": "Blue mug", "price": "12.50", "on_hand": 10}'
RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
    + str(len(BODY)).encode()
    + b"\r\n\r\n"
    + BODY
)


class _Responder(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.WriteTransport = transport  # type: ignore[assignment]
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        answers = self.buffer.count(b"\r\n\r\n")
        if answers:
            self.buffer = self.buffer.rsplit(b"\r\n\r\n", 1)[1]
            self.transport.write(RESPONSE * answers)


async def _serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Responder, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    uvloop.run(_serve(int(sys.argv[1])))
