"""A small real upstream for proxy tests: answers every request with what it received.

Run as ``python -m tests.proxy.echo_upstream --name inventory --port 12345``. The JSON answer
holds the upstream's name, the method, the raw request target, the headers in order and the body.
Per request, ``X-Echo-Status`` sets the status, ``X-Echo-Delay`` (seconds) delays the answer and
every ``X-Echo-Respond-Header: Name: value`` adds a response header. ``GET /_seen`` lists the
requests received so far (not through the proxy: tests ask the upstream directly).
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from aiohttp import web

SEEN_PATH = "/_seen"


def build_app(name: str, *, status: int, delay: float, same: bool) -> web.Application:
    seen: list[dict[str, Any]] = []

    async def handle(request: web.Request) -> web.StreamResponse:
        if request.path == SEEN_PATH:
            return web.json_response(seen)
        body = await request.read()
        record = {
            "upstream": "echo" if same else name,
            "method": request.method,
            "raw_path": request.raw_path,
            "headers": [[k, v] for k, v in request.headers.items()],
            "body": body.decode("utf-8", errors="replace"),
        }
        seen.append({key: record[key] for key in ("method", "raw_path", "headers", "body")})
        wait = float(request.headers.get("X-Echo-Delay", delay))
        if wait:
            await asyncio.sleep(wait)
        payload = json.dumps(record if not same else {**record, "headers": []}).encode()
        resp = web.Response(
            status=int(request.headers.get("X-Echo-Status", status)),
            body=payload if request.method != "HEAD" else b"",
            content_type="application/json",
        )
        if request.method == "HEAD":
            resp.headers["Content-Length"] = str(len(payload))
        for spec in request.headers.getall("X-Echo-Respond-Header", ()):
            header, _, value = spec.partition(":")
            resp.headers.add(header.strip(), value.strip())
        return resp

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--name", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--status", type=int, default=200, help="default status of every answer")
    parser.add_argument("--delay", type=float, default=0.0, help="default delay of every answer")
    parser.add_argument("--same", action="store_true", help="answer identically to other --same")
    args = parser.parse_args()
    app = build_app(args.name, status=args.status, delay=args.delay, same=args.same)
    web.run_app(
        app, host="127.0.0.1", port=args.port, access_log=None, print=None, shutdown_timeout=1
    )


if __name__ == "__main__":
    main()
