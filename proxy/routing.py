"""The routing decision: which upstream answers a request, which one is shadowed, and why.

Pure (no I/O). A :class:`Router` is compiled once per route table; :meth:`Router.decide` runs on
every request, and `strangler routes explain` calls the same method. Precedence, first match wins:

1. an exact ``path``;
2. a ``path_pattern`` (``/api/orders/{id}/cancel/``), in file order;
3. the longest ``path_prefix``.

Within each tier a route with a ``headers`` condition is tried before one without (it is more
specific); remaining ties go to the route earlier in the file. A route applies only to its
``methods`` (none listed = all) and only when its ``headers`` match. The route table decides
what is public: a request no route matches is answered 404 by the proxy itself (so the monolith's
``/admin/``, ``/metrics`` and any other operational path are reachable only on its own port, or
through a route that names them). Paths under ``/internal/`` are never forwarded, whatever the
routes say.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from proxy.config import SAFE_METHODS, Mode, PathPattern, Route, RouteTable
from proxy.read_your_writes import WriteMemory
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
    #: Upstream tried once for reads when ``primary`` fails (proxy.retrying.may_fall_back), else
    #: None.
    fallback: str | None
    bucket: int | None
    reason: str
    #: The request's sticky key, when the route needed it (canary, read-your-writes).
    key: str | None = None

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


def _tier_order(routes: list[tuple[int, Route]]) -> list[Route]:
    """Header-conditioned routes first, then file order (the index)."""
    return [r for _, r in sorted(routes, key=lambda ir: (not ir[1].match.headers, ir[0]))]


class Router:
    """A route table compiled for lookups."""

    def __init__(self, table: RouteTable) -> None:
        self.table = table
        exact: dict[str, list[tuple[int, Route]]] = {}
        patterns: list[tuple[int, Route]] = []
        prefixed: list[tuple[int, Route]] = []
        for index, route in enumerate(table.routes):
            kind = route.match.kind
            if kind == "path":
                exact.setdefault(route.match.rule, []).append((index, route))
            elif kind == "path_pattern":
                patterns.append((index, route))
            else:
                prefixed.append((index, route))
        self._exact = {path: _tier_order(routes) for path, routes in exact.items()}
        self._patterns = [(route, PathPattern(route.match.rule)) for route in _tier_order(patterns)]
        # Longest prefix first; then header-conditioned first; then file order.
        self._prefixed = [
            r
            for _, r in sorted(
                prefixed,
                key=lambda ir: (-len(ir[1].match.rule), not ir[1].match.headers, ir[0]),
            )
        ]

    def match(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str],
        considered: list[tuple[Route, str]] | None = None,
    ) -> Route | None:
        """The route that takes the request. ``considered`` (explain) collects every route
        looked at, in order, with why it was passed over (or ``"matched"``)."""
        for route in self._exact.get(path, ()):
            if self._takes(route, method, headers, considered):
                return route
        for route, pattern in self._patterns:
            if not pattern.matches(path):
                if considered is not None:
                    considered.append((route, "path does not fit the pattern"))
                continue
            if self._takes(route, method, headers, considered):
                return route
        for route in self._prefixed:
            if not path.startswith(route.match.rule):
                if considered is not None:
                    considered.append((route, "path is outside the prefix"))
                continue
            if self._takes(route, method, headers, considered):
                return route
        return None

    @staticmethod
    def _takes(
        route: Route,
        method: str,
        headers: Mapping[str, str],
        considered: list[tuple[Route, str]] | None,
    ) -> bool:
        match = route.match
        if not match.accepts_method(method):
            why: str | None = f"method {method} is not one of {', '.join(match.methods)}"
        else:
            why = match.header_mismatch(headers) if match.headers else None
        if considered is not None:
            considered.append((route, why or "matched"))
        return why is None

    def decide(
        self,
        facts: RequestFacts,
        considered: list[tuple[Route, str]] | None = None,
        writes: WriteMemory | None = None,
    ) -> Decision:
        """The decision for one request. ``considered``: see :meth:`match`. ``writes``: the
        process's read-your-writes memory (None: not consulted, as in explain)."""
        if is_internal(facts.path):
            return Decision(
                None, "monolith", None, None, None, None, "internal paths are never forwarded"
            )
        route = self.match(facts.method, facts.path, facts.headers, considered)
        if route is None:
            return Decision(None, "monolith", None, None, None, None, "no route matches")
        if route.read_your_writes is None:
            return _by_mode(route, facts, None)
        key = _key(route, facts)
        decision = _by_mode(route, facts, key)
        if writes is None or facts.method not in SAFE_METHODS:
            return decision
        pinned = writes.pinned(route.write_group, key[0])
        if pinned is None or pinned[0] == decision.primary:
            return decision
        upstream, left = pinned
        reason = (
            f"read-your-writes: key {key[0]!r} wrote through {upstream} {left:.1f}s before the "
            f"end of its window (group {route.write_group}) -> {upstream}; otherwise "
            f"{decision.reason}"
        )
        fallback = route.fallback if upstream == route.target else None
        return replace(decision, primary=upstream, shadow=None, fallback=fallback, reason=reason)


def _key(route: Route, facts: RequestFacts) -> tuple[str, str]:
    if facts.key_override is not None:
        return facts.key_override, "given key"
    return sticky_key(route.sticky, facts.headers, facts.client_addr)


def _by_mode(route: Route, facts: RequestFacts, key: tuple[str, str] | None) -> Decision:
    """What the route's mode says (``key``: the sticky key when already read)."""
    target = route.target
    sticky = key[0] if key is not None else None
    if route.mode == "monolith" or target is None:
        return Decision(route, "monolith", MONOLITH, None, None, None, "mode monolith", sticky)
    if route.mode == "shadow":
        reason = f"mode shadow: monolith answers, a copy goes to {target}"
        return Decision(route, "shadow", MONOLITH, target, None, None, reason, sticky)
    if route.mode == "extracted":
        reason = f"mode extracted: everything goes to {target}"
        if route.fallback:
            reason += f", {route.fallback} if it fails"
        return Decision(route, "extracted", target, None, route.fallback, None, reason, sticky)
    # canary
    key = key or _key(route, facts)
    name, source = key
    bucket = bucket_of(route.name, name)
    threshold = round(route.percent * 100)
    if in_canary(bucket, route.percent):
        reason = (
            f"mode canary: key {name!r} ({source}) is in bucket {bucket} < {threshold} "
            f"({route.percent:g}%) -> {target}"
        )
        return Decision(route, "canary", target, None, route.fallback, bucket, reason, name)
    reason = (
        f"mode canary: key {name!r} ({source}) is in bucket {bucket} >= {threshold} "
        f"({route.percent:g}%) -> monolith"
    )
    return Decision(route, "canary", MONOLITH, None, None, bucket, reason, name)
