"""`lint`: what a valid route table may still get wrong, answered before anything changes.

Schema problems (unknown upstreams, bad percentages, malformed rules) are
:class:`~proxy.config.ConfigError`. Beyond them:

* error: a route that can never match (for every method it takes, a route that wins over it by
  the router's precedence covers all of its paths and asks for no header it does not ask for);
  a route under ``/internal/`` (never forwarded); writes moved to a target (``canary`` or
  ``extracted`` with a non-read method) whose upstream is declared ``sync: from_monolith`` (the
  service is still a copy fed by the monolith: those writes never reach the monolith, and sync
  overwrites them);
* warning: some of a route's methods taken by a route that wins over it; a canary at 0% or 100%
  (say ``monolith``/``extracted``); writes shadowed to an upstream without ``dry_run`` (they are
  skipped); writes moved to a target whose sync direction is not declared; a fallback that is
  the target itself; routes of one read-your-writes group with different sticky keys.

:func:`require_clean` is the gate every writer and loader of the route file goes through (the
proxy at start and on reload, the admin API, `strangler routes set`): errors refuse the file,
warnings are returned to be reported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from proxy.config import (
    ANY_VALUE,
    HTTP_METHODS,
    PLACEHOLDER,
    SAFE_METHODS,
    ConfigError,
    Route,
    RouteTable,
    load_route_table,
)
from proxy.routing import INTERNAL_PREFIX

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Finding:
    severity: Severity
    route: str | None
    message: str

    def __str__(self) -> str:
        where = f"route {self.route!r}: " if self.route else ""
        return f"{self.severity}: {where}{self.message}"


def _methods(route: Route) -> frozenset[str]:
    return frozenset(route.match.methods) if route.match.methods else HTTP_METHODS


_TIER = {"path": 0, "path_pattern": 1, "path_prefix": 2}


def _rank(index: int, route: Route) -> tuple[int, int, bool, int]:
    """The router's precedence (``proxy.routing``): smaller wins."""
    match = route.match
    length = -len(match.rule) if match.kind == "path_prefix" else 0
    return _TIER[match.kind], length, not match.headers, index


def _segments(pattern: str) -> list[tuple[str, str | None]] | None:
    """A pattern as segments: ``("lit", text)`` or ``("any", regex-or-None)``; None when a
    placeholder shares a segment with literal text (lint then makes no claim about it)."""
    out: list[tuple[str, str | None]] = []
    for segment in pattern.split("/"):
        whole = PLACEHOLDER.fullmatch(segment)
        if whole:
            out.append(("any", whole.group(2)))
        elif "{" in segment:
            return None
        else:
            out.append(("lit", segment))
    return out


def _pattern_covers(wide: str, narrow: str) -> bool:
    """Does every path ``narrow`` fits also fit ``wide``? (Conservative: False when unsure.)"""
    w, n = _segments(wide), _segments(narrow)
    if w is None or n is None or len(w) != len(n):
        return False
    for (w_kind, w_val), (n_kind, n_val) in zip(w, n, strict=True):
        if w_kind == "lit":
            if n_kind != "lit" or n_val != w_val:
                return False
        elif w_val is not None:  # a regex placeholder covers the same regex, or a literal it fits
            if n_kind == "any" and n_val != w_val:
                return False
            if n_kind == "lit" and not (n_val and re.fullmatch(w_val, n_val)):
                return False
        elif n_kind == "lit" and not n_val:
            return False  # a placeholder never matches an empty segment
    return True


def _paths_cover(wide: Route, narrow: Route) -> bool:
    w, n = wide.match, narrow.match
    if w.kind != n.kind:
        return False  # a winner of another tier never covers all of a route's paths
    if w.kind == "path_pattern":
        return _pattern_covers(w.rule, n.rule)
    return w.rule == n.rule  # exact paths, or prefixes of equal length (a longer one loses)


def _headers_cover(wide: Route, narrow: Route) -> bool:
    """Every request ``narrow``'s headers admit is admitted by ``wide``'s."""
    wanted = {name.lower(): value for name, value in narrow.match.headers.items()}
    for name, value in wide.match.headers.items():
        have = wanted.get(name.lower())
        if have is None or (value != ANY_VALUE and value != have):
            return False
    return True


def _shadowing(table: RouteTable) -> list[Finding]:
    """Routes whose methods are taken by routes that win over them on all their paths."""
    findings: list[Finding] = []
    ranked = [(_rank(i, r), r) for i, r in enumerate(table.routes)]
    for rank, route in ranked:
        wanted = _methods(route)
        taken: dict[str, str] = {}  # method -> the first winning route that takes it
        for other_rank, other in sorted(ranked, key=lambda ro: ro[0]):
            if other_rank >= rank:
                break
            if _paths_cover(other, route) and _headers_cover(other, route):
                for method in sorted(_methods(other) & wanted):
                    taken.setdefault(method, other.name)
        kind, rule = route.match.kind, route.match.rule
        if taken and set(taken) >= wanted:
            winners = ", ".join(sorted(set(taken.values())))
            findings.append(
                Finding(
                    "error",
                    route.name,
                    f"can never match: {kind} {rule!r} with these methods is taken by "
                    f"earlier route(s) {winners}",
                )
            )
        elif taken:
            parts = ", ".join(f"{m} by {n!r}" for m, n in sorted(taken.items()))
            findings.append(
                Finding("warning", route.name, f"overlaps an earlier route: {parts} never reach it")
            )
    return findings


def _groups(table: RouteTable) -> list[Finding]:
    """Read-your-writes groups whose routes read the client's key differently."""
    stickies: dict[str, dict[str, str]] = {}
    for route in table.routes:
        if route.read_your_writes is not None:
            stickies.setdefault(route.write_group, {})[route.name] = route.sticky
    findings = []
    for group, by_route in stickies.items():
        if len(set(by_route.values())) > 1:
            listed = ", ".join(f"{name} ({sticky})" for name, sticky in by_route.items())
            for name in by_route:
                findings.append(
                    Finding(
                        "warning",
                        name,
                        f"read-your-writes group {group!r} mixes sticky keys: {listed}; a write "
                        "under one key never pins reads under another",
                    )
                )
    return findings


def _route_findings(table: RouteTable, route: Route) -> list[Finding]:
    out: list[Finding] = []
    rule = route.match.rule
    if rule.startswith(INTERNAL_PREFIX) or rule == INTERNAL_PREFIX.rstrip("/"):
        out.append(Finding("error", route.name, f"{rule!r} is under /internal/: never forwarded"))
    if route.mode == "canary" and route.percent == 0:
        out.append(
            Finding(
                "warning",
                route.name,
                "canary at 0% sends nothing to the target: "
                "say mode monolith (or shadow to compare)",
            )
        )
    if route.mode == "canary" and route.percent == 100:
        out.append(
            Finding(
                "warning",
                route.name,
                "canary at 100% sends everything to the target: say mode extracted",
            )
        )
    writes = route.match.unsafe_methods()
    target = table.upstreams.get(route.target) if route.target else None
    if route.mode == "shadow" and writes and target is not None and not target.dry_run:
        out.append(
            Finding(
                "warning",
                route.name,
                f"shadows writes to {route.target!r}, which has no dry_run: writes are skipped "
                "(set dry_run: true only if it honours X-Strangler-Dry-Run)",
            )
        )
    if route.mode in ("canary", "extracted") and writes and target is not None:
        if target.sync == "from_monolith":
            out.append(
                Finding(
                    "error",
                    route.name,
                    f"unsafe: mode {route.mode} sends writes ({_write_methods(route)}) to "
                    f"{route.target!r}, which is still fed by sync from the monolith "
                    "(sync: from_monolith): they never reach the monolith and sync overwrites "
                    "them; keep writes on the monolith (or shadow them) until sync is reversed",
                )
            )
        elif target.sync == "none":
            out.append(
                Finding(
                    "warning",
                    route.name,
                    f"unsafe unless {route.target!r} is the source of truth: writes go to it "
                    "and its sync direction is not declared (set sync: to_monolith once reverse "
                    "sync runs, or sync: from_monolith while it is still a copy)",
                )
            )
    if route.fallback is not None and route.fallback == route.target:
        out.append(Finding("warning", route.name, "fallback is the target itself: no fallback"))
    return out


def _write_methods(route: Route) -> str:
    return ", ".join(sorted(_methods(route) - SAFE_METHODS))


def lint_table(table: RouteTable) -> list[Finding]:
    findings = _shadowing(table) + _groups(table)
    for route in table.routes:
        findings.extend(_route_findings(table, route))
    order = {r.name: i for i, r in enumerate(table.routes)}
    findings.sort(key=lambda f: (order.get(f.route or "", -1), f.severity != "error"))
    return findings


def require_clean(table: RouteTable, *, source: str) -> list[Finding]:
    """The table's warnings; :class:`ConfigError` (one line per error) when lint finds errors."""
    found = lint_table(table)
    errors = [f for f in found if f.severity == "error"]
    if errors:
        raise ConfigError(f"{source}: refused by lint:\n" + "\n".join(str(f) for f in errors))
    return [f for f in found if f.severity == "warning"]


def lint_file(path: str | Path) -> list[Finding]:
    """Every finding for the file; a file that fails validation is one error finding."""
    try:
        table = load_route_table(path)
    except ConfigError as err:
        return [Finding("error", None, str(err))]
    return lint_table(table)
