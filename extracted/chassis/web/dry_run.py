"""Dry runs: a write carrying ``X-Strangler-Dry-Run: 1`` runs in a unit of work that is rolled back.

The middleware marks the request and stamps ``X-Strangler-Dry-Run: rolled-back`` on the response;
an endpoint hands ``is_dry_run(request)`` to its unit of work (``unit_of_work``).
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from extracted.chassis.web.errors import MalformedRequest

HEADER = "X-Strangler-Dry-Run"
ROLLED_BACK = "rolled-back"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
_STATE_KEY = "strangler_dry_run"


def _header(scope: Scope) -> bytes | None:
    """The dry-run header of a write, or None (reads never dry-run)."""
    if scope["method"] in SAFE_METHODS:
        return None
    for name, value in scope["headers"]:
        if name == b"x-strangler-dry-run":
            return bytes(value)
    return None


def is_dry_run(request: Request) -> bool:
    return bool(request.scope.get("state", {}).get(_STATE_KEY, False))


class DryRunMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        value = _header(scope) if scope["type"] == "http" else None
        if value is None:
            await self.app(scope, receive, send)
            return
        if value.strip() != b"1":
            # Refuse rather than guess: a dry run mistaken for a real write would persist it.
            refusal = MalformedRequest(f'{HEADER} must be "1" when present on a write.')
            await refusal.response()(scope, receive, send)
            return
        scope.setdefault("state", {})[_STATE_KEY] = True

        async def send_marked(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[HEADER] = ROLLED_BACK
            await send(message)

        await self.app(scope, receive, send_marked)
