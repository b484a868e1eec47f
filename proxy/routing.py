"""The routing decision: which upstream answers a request, which one is shadowed, and why.

Pure (no I/O). A :class:`Router` is compiled once per route table; :meth:`Router.decide` runs on
every request. Matching: an exact ``path`` beats any ``path_prefix``; among prefixes the longest
wins; among equals the first in the file wins; a route applies only to its ``methods`` (none
listed = all). No route -> the ``monolith`` upstream. Paths under ``/internal/`` are never
forwarded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from proxy.config import Mode, Route, RouteTable
from proxy.sticky import bucket_of, in_canary, sticky_key

MONOLITH = "monolith"
INTERNAL_PREFIX = "/internal/"


@dataclass(frozen=True, slots=True)
class Decision:
    route: Route | None
    mode: Mode
    #: Upstream that answers the client; None = answered by the proxy itself (404).
    primary: str | None
    #: Upstream that gets a copy off the hot path (shadow mode), else None.
    shadow: str | None
    #: Upstream retried once for idempotent requests when ``primary`` fails, else None.
    fallback: str | None
    bucket: int | None
    reason: str

    @property
    def route_name(self) -> str:
        return self.route.name if self.route is not None else "-"


@dataclass(frozen=True, slots=True)
class RequestFacts:
    method: str
    path: str
    #: Case-insensitive header mapping (a multidict or similar).
    headers: Mapping[str, str]
    client_addr: str
    #: Use this sticky key instead of reading it from the request (`strangler routes explain`).
    key_override: str | None = None


def is_internal(path: str) -> bool:
    return path == INTERNAL_PREFIX.rstrip("/") or path.startswith(INTERNAL_PREFIX)


class Router:
    """A route table compiled for lookups."""

    def __init__(self, table: RouteTable) -> None:
        self.table = table
        self._exact: dict[str, list[Route]] = {}
        prefixed: list[Route] = []
        for route in table.routes:
            if route.match.path is not None:
                self._exact.setdefault(route.match.path, []).append(route)
            else:
                prefixed.append(route)
        # Longest prefix first; sorted() is stable, so file order breaks ties.
        self._prefixed = sorted(prefixed, key=lambda r: -len(r.match.path_prefix or ""))

    def match(self, method: str, path: str) -> Route | None:
        for route in self._exact.get(path, ()):
            if route.match.accepts_method(method):
                return route
        for route in self._prefixed:
            prefix = route.match.path_prefix
            assert prefix is not None
            if path.startswith(prefix) and route.match.accepts_method(method):
                return route
        return None

    def decide(self, facts: RequestFacts) -> Decision:
        if is_internal(facts.path):
            return Decision(
                None, "monolith", None, None, None, None, "internal paths are never forwarded"
            )
        route = self.match(facts.method, facts.path)
        if route is None:
            return Decision(None, "monolith", MONOLITH, None, None, None, "no route matches")
        target = route.target
        if route.mode == "monolith" or target is None:
            return Decision(route, "monolith", MONOLITH, None, None, None, "mode monolith")
        if route.mode == "shadow":
            reason = f"mode shadow: monolith answers, a copy goes to {target}"
            return Decision(route, "shadow", MONOLITH, target, None, None, reason)
        if route.mode == "extracted":
            reason = f"mode extracted: everything goes to {target}"
            if route.fallback:
                reason += f", {route.fallback} if it fails"
            return Decision(route, "extracted", target, None, route.fallback, None, reason)
        # canary
        if facts.key_override is not None:
            key, source = facts.key_override, "given key"
        else:
            key, source = sticky_key(route.sticky, facts.headers, facts.client_addr)
        bucket = bucket_of(route.name, key)
        threshold = round(route.percent * 100)
        if in_canary(bucket, route.percent):
            reason = (
                f"mode canary: key {key!r} ({source}) is in bucket {bucket} < {threshold} "
                f"({route.percent:g}%) -> {target}"
            )
            return Decision(route, "canary", target, None, route.fallback, bucket, reason)
        reason = (
            f"mode canary: key {key!r} ({source}) is in bucket {bucket} >= {threshold} "
            f"({route.percent:g}%) -> monolith"
        )
        return Decision(route, "canary", MONOLITH, None, None, bucket, reason)
