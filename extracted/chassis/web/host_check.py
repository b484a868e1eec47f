"""Refuse requests whose ``Host`` header is not a valid host, as Django does for every request
(``CommonMiddleware`` calls ``request.get_host()``): a 400 ``bad_request`` in the contract's shape.

Only the syntax is checked (Django's ``host_validation_re``), which is what the monolith's default
``ALLOWED_HOSTS = ["*"]`` amounts to.
"""

from __future__ import annotations

import re

from starlette.types import ASGIApp, Receive, Scope, Send

from extracted.chassis.web.errors import BadRequest

_HOST = re.compile(r"^([a-z0-9.-]+|\[[a-f0-9]*:[a-f0-9.:]+\])(?::([0-9]+))?$")


def valid_host(host: str) -> bool:
    """Django's ``split_domain_port`` finds a domain (``validate_host`` with ``*`` then agrees)."""
    match = _HOST.fullmatch(host.lower())
    return bool(match and match.group(1).removesuffix("."))


class HostCheckMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for name, value in scope["headers"]:
                if name == b"host":
                    if not valid_host(value.decode("latin-1")):
                        await BadRequest().response()(scope, receive, send)
                        return
                    break
        await self.app(scope, receive, send)
