"""A deliberately trivial HTTP/1.1 upstream for benchmarks: keep-alive, one fixed JSON answer.

Raw asyncio protocol on uvloop, so it is far faster than any proxy in front of it and the
benchmark measures the proxy, not the upstream. Only bodiless requests (GET/HEAD) are expected.
Run: ``python -m bench.fast_upstream PORT`` (one small product), or ``... PORT --page ROWS
[--indent]`` (a product page; ``--indent`` formats the same document differently).
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


def page_response(rows: int, *, indent: int | None = None) -> bytes:
    """A product page of ``rows`` rows (``--page``): with ``indent`` the same JSON document in
    other bytes, so a shadow comparison parses and walks it rather than byte-comparing."""
    import json

    products = [
        {
            "sku": f"SKU-{n:05d}",
            "name": f"Product {n}",
            "price": "12.50",
            "on_hand": 10,
            "reserved": 2,
            "available": 8,
            "version": 3,
            "created_at": "2026-11-24T23:17:01.123456Z",
            "updated_at": "2026-11-24T23:17:01.123456Z",
        }
        for n in range(rows)
    ]
    page = {"count": rows, "next": None, "previous": None, "results": products}
    body = json.dumps(page, indent=indent).encode()
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
    return head + str(len(body)).encode() + b"\r\n\r\n" + body


class _Responder(asyncio.Protocol):
    response = RESPONSE

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.WriteTransport = transport  # type: ignore[assignment]
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        answers = self.buffer.count(b"\r\n\r\n")
        if answers:
            self.buffer = self.buffer.rsplit(b"\r\n\r\n", 1)[1]
            self.transport.write(self.response * answers)


async def _serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Responder, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    # python -m bench.fast_upstream PORT [--page ROWS [--indent]]
    if "--page" in sys.argv:
        rows = int(sys.argv[sys.argv.index("--page") + 1])
        _Responder.response = page_response(rows, indent=2 if "--indent" in sys.argv else None)
    uvloop.run(_serve(int(sys.argv[1])))
