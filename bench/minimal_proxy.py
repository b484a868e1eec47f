"""The smallest proxy that forwards GETs with a chosen upstream client, on a chosen server.

The default server is the one ``proxy/app.py`` uses (aiohttp's low-level server on uvloop);
``uvicorn`` (raw ASGI on uvloop + httptools, no framework) is the alternative measured.

Run: ``python -m bench.minimal_proxy CLIENT PORT UPSTREAM_URL [SERVER]`` with CLIENT one of
``aiohttp``, ``httpx``, ``httpx-aiohttp`` and SERVER ``aiohttp`` (default) or ``uvicorn``.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import httpx
import uvloop
from aiohttp import web

Fetch = Callable[[str], Awaitable[tuple[int, bytes, str]]]


def _aiohttp_fetch(base: str) -> Fetch:
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=256),
        timeout=aiohttp.ClientTimeout(total=5),
        auto_decompress=False,
    )

    async def fetch(path: str) -> tuple[int, bytes, str]:
        async with session.get(base + path, allow_redirects=False) as resp:
            body = await resp.read()
            return resp.status, body, resp.headers.get("Content-Type", "")

    return fetch


def _httpx_fetch(client: httpx.AsyncClient) -> Fetch:
    async def fetch(path: str) -> tuple[int, bytes, str]:
        resp = await client.get(path)
        return resp.status_code, resp.content, resp.headers.get("Content-Type", "")

    return fetch


def make_fetch(kind: str, base: str) -> Fetch:
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
    if kind == "aiohttp":
        return _aiohttp_fetch(base)
    if kind == "httpx":
        return _httpx_fetch(httpx.AsyncClient(base_url=base, limits=limits, timeout=5))
    if kind == "httpx-aiohttp":
        from httpx_aiohttp import AiohttpTransport

        transport = AiohttpTransport(
            client=lambda: aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256))
        )
        return _httpx_fetch(
            httpx.AsyncClient(base_url=base, transport=transport, limits=limits, timeout=5)
        )
    raise SystemExit(f"unknown client {kind!r}")


async def _serve(kind: str, port: int, base: str) -> None:
    fetch = make_fetch(kind, base)

    async def handle(request: web.BaseRequest) -> web.Response:
        status, body, content_type = await fetch(request.raw_path)
        return web.Response(status=status, body=body, headers={"Content-Type": content_type})

    runner = web.ServerRunner(web.Server(handle, access_log=None))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, backlog=1024).start()
    await asyncio.Event().wait()


def _serve_uvicorn(kind: str, port: int, base: str) -> None:
    import uvicorn

    fetch: Fetch | None = None

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        nonlocal fetch
        if scope["type"] != "http":
            return
        if fetch is None:  # the client must be made inside the server's loop
            fetch = make_fetch(kind, base)
        path = scope["raw_path"].decode() + (
            "?" + scope["query_string"].decode() if scope["query_string"] else ""
        )
        status, body, content_type = await fetch(path)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", content_type.encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})

    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        lifespan="off",
        access_log=False,
        log_level="warning",
        backlog=1024,
    )


if __name__ == "__main__":
    server = sys.argv[4] if len(sys.argv) > 4 else "aiohttp"
    if server == "uvicorn":
        _serve_uvicorn(sys.argv[1], int(sys.argv[2]), sys.argv[3])
    else:
        uvloop.run(_serve(sys.argv[1], int(sys.argv[2]), sys.argv[3]))
