"""``Allow`` on every answer of a known path, as DRF's ``APIView`` sends it.

DRF lists the view's methods in ``http_method_names`` order, HEAD whenever GET is there, and
OPTIONS always (the view has an ``options`` handler even when it answers 405). The routes of one
path are one "view" here; unknown URLs and Django's own refusals (``BadRequest``) carry none.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from starlette.datastructures import MutableHeaders
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from extracted.chassis.web.errors import OUTSIDE_VIEW_STATE

#: DRF's ``APIView.http_method_names`` order.
METHOD_ORDER = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE")


def allow_value(methods: set[str]) -> str:
    methods = methods | {"OPTIONS"} | ({"HEAD"} if "GET" in methods else set())
    return ", ".join(m for m in METHOD_ORDER if m in methods)


def views_of(routes: Sequence[BaseRoute]) -> list[tuple[re.Pattern[str], str]]:
    """One (path pattern, Allow value) per path: the routes of one path are one view."""
    by_path: dict[str, tuple[re.Pattern[str], set[str]]] = {}
    for route in routes:
        if isinstance(route, Route) and route.methods:
            _pattern, methods = by_path.setdefault(route.path, (route.path_regex, set()))
            methods.update(route.methods)
    return [(pattern, allow_value(methods)) for pattern, methods in by_path.values()]


class AllowHeaderMiddleware:
    """Give it the service's routes (those of its ``APIRouter``s, with their prefixes)."""

    def __init__(self, app: ASGIApp, *, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.views = views_of(routes)

    def _allow_for(self, path: str) -> str | None:
        for pattern, allow in self.views:
            if pattern.match(path):
                return allow
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        allow = self._allow_for(scope["path"]) if scope["type"] == "http" else None
        if allow is None:
            await self.app(scope, receive, send)
            return

        async def send_with_allow(message: Message) -> None:
            outside_view = scope.get("state", {}).get(OUTSIDE_VIEW_STATE, False)
            if message["type"] == "http.response.start" and not outside_view:
                MutableHeaders(scope=message)["Allow"] = allow
            await send(message)

        await self.app(scope, receive, send_with_allow)
