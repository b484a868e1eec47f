"""`lint`: what a valid route table may still get wrong, answered before anything changes.

Schema problems are :class:`~proxy.config.ConfigError` (the file is refused). Beyond them:

* error: a route that can never match (every method it takes on every path it covers is taken by
  a route that wins over it), a route under ``/internal/`` (never forwarded);
* warning: methods of a route taken by an earlier route with the same path rule; a canary at 0%
  or 100% (say ``monolith``/``extracted``); writes shadowed to an upstream without ``dry_run``
  (they are skipped); writes moved to the target while sync flows monolith -> service (unsafe);
  a fallback that is the target itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from proxy.config import HTTP_METHODS, ConfigError, Route, RouteTable, load_route_table
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


def _rule(route: Route) -> tuple[str, str]:
    return route.match.kind, route.match.rule


def _shadowing(table: RouteTable) -> list[Finding]:
    """Routes with the same path rule: the first in the file takes the methods they share.
    (A longer prefix or an exact path wins over a shorter prefix, so only equal rules hide.)"""
    findings: list[Finding] = []
    earlier: dict[tuple[str, str], list[Route]] = {}
    for route in table.routes:
        rule = _rule(route)
        before = earlier.setdefault(rule, [])
        wanted = _methods(route)
        taken: dict[str, str] = {}  # method -> the first earlier route that takes it
        for earlier_route in before:
            for method in _methods(earlier_route) & wanted:
                taken.setdefault(method, earlier_route.name)
        if taken and set(taken) >= wanted:
            winners = ", ".join(sorted(set(taken.values())))
            findings.append(
                Finding(
                    "error",
                    route.name,
                    f"can never match: {rule[0]} {rule[1]!r} with these methods is taken by "
                    f"earlier route(s) {winners}",
                )
            )
        elif taken:
            parts = ", ".join(f"{m} by {n!r}" for m, n in sorted(taken.items()))
            findings.append(
                Finding("warning", route.name, f"overlaps an earlier route: {parts} never reach it")
            )
        before.append(route)
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
    if route.mode in ("canary", "extracted") and writes:
        out.append(
            Finding(
                "warning",
                route.name,
                f"unsafe: writes go to {route.target!r} while sync flows monolith -> service; "
                "they never reach the monolith until reverse sync runs",
            )
        )
    if route.fallback is not None and route.fallback == route.target:
        out.append(Finding("warning", route.name, "fallback is the target itself: no fallback"))
    return out


def lint_table(table: RouteTable) -> list[Finding]:
    findings = _shadowing(table)
    for route in table.routes:
        findings.extend(_route_findings(table, route))
    order = {r.name: i for i, r in enumerate(table.routes)}
    findings.sort(key=lambda f: (order.get(f.route or "", -1), f.severity != "error"))
    return findings


def lint_file(path: str | Path) -> list[Finding]:
    """Every finding for the file; a file that fails validation is one error finding."""
    try:
        table = load_route_table(path)
    except ConfigError as err:
        return [Finding("error", None, str(err))]
    return lint_table(table)
