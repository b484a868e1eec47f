"""A real HTTP sync-lag source for proxy tests, shaped like the monolith's outbox stats.

Run as ``python -m tests.proxy.lag_source --port 12345``. ``GET /internal/outbox/stats`` answers
``{"pending": N, "total": ..., "oldest_pending_age_s": AGE, ...}``; ``PUT /lag`` with
``{"pending": N, "oldest_pending_age_s": AGE}`` sets the next answers (``{"status": 503}`` makes
it fail); ``GET /polls`` says how many times the stats were read.
"""

from __future__ import annotations

import argparse
from typing import Any

from aiohttp import web


def build_app() -> web.Application:
    state: dict[str, Any] = {"pending": 0, "oldest_pending_age_s": None, "status": 200}
    polls = [0]

    async def stats(request: web.Request) -> web.Response:
        polls[0] += 1
        if state["status"] != 200:
            return web.json_response({"error": "unavailable"}, status=state["status"])
        return web.json_response(
            {
                "pending": state["pending"],
                "total": 10,
                "oldest_pending_age_s": state["oldest_pending_age_s"],
                "by_aggregate_type": {},
            }
        )

    async def set_lag(request: web.Request) -> web.Response:
        state.update({"status": 200, **(await request.json())})
        polls[0] = 0
        return web.json_response(state)

    async def get_polls(request: web.Request) -> web.Response:
        return web.json_response({"polls": polls[0]})

    app = web.Application()
    app.router.add_get("/internal/outbox/stats", stats)
    app.router.add_put("/lag", set_lag)
    app.router.add_get("/polls", get_polls)
    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    web.run_app(
        build_app(),
        host="127.0.0.1",
        port=args.port,
        access_log=None,
        print=None,
        shutdown_timeout=1,
    )


if __name__ == "__main__":
    main()
