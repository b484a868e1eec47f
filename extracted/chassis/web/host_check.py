"""Refuse requests whose ``Host`` header is not one the service answers to, as Django does for
every request (``CommonMiddleware`` calls ``request.get_host()``): a 400 ``bad_request`` in the
contract's shape.

The same rules as Django's ``validate_host``: the Host must be a valid host (Django's
``host_validation_re``), and its domain must match a pattern of ``STRANGLER_ALLOWED_HOSTS``: an
exact name, ``.example.com`` for the domain and its subdomains, or ``*`` for any.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from starlette.types import ASGIApp, Receive, Scope, Send

from extracted.chassis.web.errors import BadRequest

_HOST = re.compile(r"^([a-z0-9.-]+|\[[a-f0-9]*:[a-f0-9.:]+\])(?::([0-9]+))?$")


def host_domain(host: str) -> str | None:
    """Django's ``split_domain_port``: the domain of a syntactically valid Host, else None."""
    match = _HOST.fullmatch(host.lower())
    if not match:
        return None
    return match.group(1).removesuffix(".") or None


def allowed(domain: str, patterns: Sequence[str]) -> bool:
    """Django's ``validate_host`` for a domain already split from its port."""
    for pattern in patterns:
        if pattern == "*" or domain == pattern:
            return True
        if pattern.startswith(".") and (domain.endswith(pattern) or domain == pattern[1:]):
            return True
    return False


class HostCheckMiddleware:
    def __init__(self, app: ASGIApp, *, allowed_hosts: Sequence[str]) -> None:
        self.app = app
        self.allowed_hosts = tuple(allowed_hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for name, value in scope["headers"]:
                if name == b"host":
                    domain = host_domain(value.decode("latin-1"))
                    if domain is None or not allowed(domain, self.allowed_hosts):
                        await BadRequest().response()(scope, receive, send)
                        return
                    break
        await self.app(scope, receive, send)
