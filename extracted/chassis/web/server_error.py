"""Anything unexpected becomes the body Django's ``handler500`` gives, logged with its traceback.

A pure ASGI middleware rather than Starlette's ``Exception`` handler: that one re-raises after
answering, and uvicorn then drops the keep-alive connection, which clients see as a reset on
their next request. Placed inside the dry-run middleware, so a failed dry run is still marked.
"""

from __future__ import annotations

import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from extracted.chassis.web.errors import ApiError

logger = logging.getLogger(__name__)


class ServerErrorMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            if started:  # too late for another answer: let the server close the connection
                raise
            logger.exception("unhandled error on %s %s", scope["method"], scope["path"])
            await ApiError(500, "server_error", "Server error.").response()(scope, receive, send)
