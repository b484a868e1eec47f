"""Every internal route of an owner, found from its router (a service's ``app.routes``, the
monolith's URLconf) rather than listed by hand, and the probe that holds each one to the rule
of ``contracts.sync_token`` over HTTP: a route added later is probed without anyone adding it."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from django.urls import URLPattern, URLResolver, get_resolver
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts

from contracts.sync_token import bearer, needs_sync_token
from contracts.tokens import UNAUTHENTICATED_BODY, WWW_AUTHENTICATE

#: A value for each path parameter of an internal route. A route with another parameter fails
#: the probe until one is added here.
PATH_VALUES = {"aggregate": "products", "capability": "inventory"}
#: ``{name}`` / ``{name:converter}`` (Starlette), ``<name>`` / ``<converter:name>`` (Django).
_SERVICE_PARAM = re.compile(r"\{(\w+)(?::[^}]*)?\}")
_DJANGO_PARAM = re.compile(r"<(?:\w+:)?(\w+)>")


@dataclass(frozen=True)
class InternalRoute:
    method: str
    #: As the router declares it (``/internal/reconcile/{aggregate}/repair``).
    path: str
    #: What the probe requests (the parameters filled from ``PATH_VALUES``).
    url: str


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any
    #: Lower-cased names.
    headers: dict[str, str]


#: Sends ``method url`` with these headers (and an empty JSON object as the body of a method
#: that is not a read), over the owner's HTTP stack.
Send = Callable[[str, str, dict[str, str]], Answer]


def _filled(path: str, pattern: re.Pattern[str]) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in PATH_VALUES:
            raise AssertionError(f"{path}: add a value for {name!r} to PATH_VALUES")
        return PATH_VALUES[name]

    return pattern.sub(value, path)


def service_routes(app: FastAPI) -> list[InternalRoute]:
    """Every (method, path) under ``/internal/`` the app routes (``app.routes`` flattened: the
    included routers' routes with their prefixes, as FastAPI's own OpenAPI walk sees them)."""
    found = []
    for route in iter_route_contexts(app.routes):
        path, methods = route.path or "", route.methods or ()
        if path.startswith("/internal/"):
            url = _filled(path, _SERVICE_PARAM)
            found += [InternalRoute(method, path, url) for method in sorted(methods)]
    return found


def _django_patterns(
    patterns: Sequence[URLPattern | URLResolver], prefix: str
) -> Iterator[tuple[str, Any]]:
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from _django_patterns(pattern.url_patterns, route)
        else:
            yield route, pattern.callback


def monolith_routes() -> list[InternalRoute]:
    """Every (method, path) under ``/internal/`` of the URLconf in use: the methods each view
    class has a handler for (OPTIONS included, which ``APIView`` always has)."""
    found = []
    for route, callback in _django_patterns(get_resolver().url_patterns, "/"):
        if not route.startswith("/internal/"):
            continue
        view = getattr(callback, "view_class", None)
        assert view is not None, f"{route}: not a class-based view; the probe cannot list it"
        url = _filled(route, _DJANGO_PARAM)
        found += [
            InternalRoute(method.upper(), route, url)
            for method in view.http_method_names
            if hasattr(view, method)
        ]
    return found


def rule_breaks(send: Send, routes: list[InternalRoute], token: str) -> list[str]:
    """What breaks the rule, one line per request (empty: none). A route that needs the token
    answers the contract's 401 without it, with another bearer token and with another scheme,
    and neither 401, 403 nor a 5xx with it; a read answers without it (not 401, 403, 5xx)."""
    breaks = []
    for route in routes:
        where = f"{route.method} {route.path}"
        if not needs_sync_token(route.method):
            answer = send(route.method, route.url, {})
            if answer.status in (401, 403) or answer.status >= 500:
                breaks.append(f"{where} (a read) without the token: {answer.status}")
            continue
        for refused, headers in (
            ("no token", {}),
            ("another token", bearer(f"not-{token}")),
            ("another scheme", {"Authorization": f"Basic {token}"}),
        ):
            answer = send(route.method, route.url, headers)
            if (answer.status, answer.body) != (401, UNAUTHENTICATED_BODY) or answer.headers.get(
                "www-authenticate"
            ) != WWW_AUTHENTICATE:
                breaks.append(f"{where} with {refused}: {answer.status} {answer.body}")
        answer = send(route.method, route.url, bearer(token))
        if answer.status in (401, 403) or answer.status >= 500:
            breaks.append(f"{where} with the token: {answer.status} {answer.body}")
    return breaks


def unconfigured_breaks(send: Send, routes: list[InternalRoute], token: str) -> list[str]:
    """With no token configured on the owner, every route that needs one answers 403
    ``permission_denied``, whatever the request carries."""
    breaks = []
    for route in routes:
        if not needs_sync_token(route.method):
            continue
        answer = send(route.method, route.url, bearer(token))
        error = answer.body.get("error") if isinstance(answer.body, dict) else None
        if (answer.status, error) != (403, "permission_denied"):
            breaks.append(f"{route.method} {route.path}: {answer.status} {answer.body}")
    return breaks
