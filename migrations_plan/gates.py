"""Gate evaluation: each gate reads a live endpoint and says pass/fail, what it saw, what it needs.

A gate whose endpoint is down, refuses the token or answers something unexpected *fails* with
that reason; it never raises. Counters from the proxy (``GET /admin/stats``) are cumulative since
the proxy started, so a step records a baseline when it starts and gates count from there (when
the proxy restarted since, its counters started over and are taken as they are).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from contracts.events import Capability
from contracts.reconcile import MAX_ROWS, RowsRequest
from migrations_plan.books import BOOKS, Books, imbalances
from migrations_plan.model import (
    BackfillDoneGate,
    BooksBalanceGate,
    ErrorRateGate,
    Gate,
    MonolithServedGate,
    ReconcileDriftGate,
    ReverseBacklogGate,
    ShadowParityGate,
    Step,
    SyncBacklogGate,
)
from migrations_plan.settings import WalkerSettings
from protocol.reconcile_spec import SPECS
from sync.backfill_jobs import JOBS
from sync.control.direction import (
    DirectionPicture,
    Owners,
    SwitchError,
    direction_picture,
    directions,
)
from sync.control.reconcile_http import MonolithSide, ServiceSide
from sync.control.stats import StatsUnavailable

#: Examples a failing books gate names in its one line.
BOOKS_EXAMPLES = 3


@dataclass(frozen=True)
class GateResult:
    gate: str
    passed: bool
    observed: str
    threshold: str
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "gate": self.gate,
            "passed": self.passed,
            "observed": self.observed,
            "threshold": self.threshold,
            "reason": self.reason,
        }


class EndpointError(Exception):
    """An endpoint could not give a usable answer; the message says why (one line)."""


class Endpoints:
    """The three HTTP sources gates read, over one pooled client."""

    def __init__(self, settings: WalkerSettings) -> None:
        self.settings = settings
        self.client = httpx.Client(timeout=settings.http_timeout_s)

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Endpoints:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _get(
        self,
        what: str,
        url: str,
        *,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        try:
            response = self.client.get(url, params=params, headers=headers)
        except httpx.HTTPError as err:
            detail = " ".join(str(err).split()) or type(err).__name__
            raise EndpointError(f"{what} unreachable at {url}: {detail}") from err
        if response.status_code != 200:
            raise EndpointError(f"{what} answered {response.status_code} at {url}")
        try:
            return response.json()
        except ValueError as err:
            raise EndpointError(f"{what} answered something that is not JSON at {url}") from err

    def _admin(self, path: str, params: dict[str, str] | None = None) -> Any:
        token = self.settings.token()
        if token is None:
            raise EndpointError("no proxy admin token (set PROXY_ADMIN_TOKEN or $VAR/admin-token)")
        url = self.settings.proxy_admin_url.rstrip("/") + path
        return self._get(
            "proxy admin API", url, params=params, headers={"Authorization": f"Bearer {token}"}
        )

    def proxy_stats(self) -> dict[str, Any]:
        data = self._admin("/admin/stats")
        if not isinstance(data, dict) or not isinstance(data.get("routes"), dict):
            raise EndpointError("proxy admin API: /admin/stats has no 'routes'")
        return data

    def mismatch_count(self, route: str, since: datetime) -> int:
        data = self._admin(
            "/admin/mismatches", {"route": route, "since": since.isoformat(), "limit": "1"}
        )
        return _int(data, "count", "proxy admin API: /admin/mismatches")

    def mismatches(self, route: str, *, limit: int) -> dict[str, Any]:
        """The newest ``limit`` stored mismatches of ``route`` and how many there are."""
        data = self._admin("/admin/mismatches", {"route": route, "limit": str(limit)})
        _int(data, "count", "proxy admin API: /admin/mismatches")
        return dict(data)

    def outbox_stats(self, capability: str) -> dict[str, Any]:
        url = (
            self.settings.monolith_url.rstrip("/")
            + f"/internal/outbox/stats?capability={capability}"
        )
        data = self._get("monolith", url)
        _int(data, "pending", "monolith: /internal/outbox/stats")
        return dict(data)

    def sync_stats(self, capability: Capability = "inventory") -> dict[str, Any]:
        """The sync stats of the service that owns ``capability``."""
        url = self.settings.service_url(capability).rstrip("/") + "/internal/sync/stats"
        what = f"{capability} service"
        data = self._get(what, url)
        if not isinstance(data, dict) or not isinstance(data.get("backfills"), list):
            raise EndpointError(f"{what}: /internal/sync/stats has no 'backfills'")
        return data

    def canonical_rows(self, aggregate: str) -> list[str]:
        """Every canonical row text of ``aggregate`` (protocol.reconcile_spec), from the owner
        that takes its capability's writes now (the monolith while it is ``forward``), over
        its internal reconciliation endpoint (the sync token)."""
        capability = SPECS[aggregate].capability
        owners = Owners(
            capability, self.settings.monolith_url, self.settings.service_url(capability)
        )
        try:
            monolith, _service = directions(self.client, owners)
            side = (
                MonolithSide(self.settings.monolith_url, self.client, aggregate)
                if monolith == "forward"
                else ServiceSide(owners.service_url, self.client, aggregate)
            )
            texts: dict[str, str] = {}
            lo: str | None = None
            while True:
                page = side.rows(RowsRequest(lo=lo, limit=MAX_ROWS)).rows
                fresh = [row for row in page if row.key not in texts]
                texts.update((row.key, row.text) for row in fresh)
                if len(page) < MAX_ROWS or not fresh:
                    return list(texts.values())
                lo = page[-1].key  # inclusive: the page after repeats it, and it is skipped
        except (SwitchError, StatsUnavailable) as err:
            raise EndpointError(" ".join(str(err).split())) from err

    def owner_directions(self, capability: Capability) -> tuple[str, str]:
        """(the monolith's, the service's) direction of ``capability``."""
        owners = Owners(
            capability, self.settings.monolith_url, self.settings.service_url(capability)
        )
        try:
            return directions(self.client, owners)
        except SwitchError as err:
            raise EndpointError(" ".join(str(err).split())) from err

    def reverse_picture(self, capability: Capability) -> DirectionPicture:
        owners = Owners(
            capability, self.settings.monolith_url, self.settings.service_url(capability)
        )
        try:
            return direction_picture(owners, client=self.client)
        except SwitchError as err:
            raise EndpointError(str(err)) from err


def _int(data: Any, key: str, where: str) -> int:
    value = data.get(key) if isinstance(data, dict) else None
    if not isinstance(value, int) or isinstance(value, bool):
        raise EndpointError(f"{where}: no integer {key!r} in the answer")
    return value


def route_counters(stats: dict[str, Any], route: str) -> dict[str, Any]:
    """The counters a baseline keeps for one route (zeros when the proxy has not seen it)."""
    entry = stats["routes"].get(route) or {}
    requests = entry.get("requests") or {}
    shadow = entry.get("shadow") or {}
    return {
        "requests": int(sum(v for v in requests.values() if isinstance(v, int))),
        "monolith": int(requests.get("monolith") or 0),
        "errors": int(entry.get("errors") or 0),
        "compared": int(shadow.get("compared") or 0),
        "mismatched": int(shadow.get("mismatched") or 0),
    }


def take_baseline(endpoints: Endpoints, step: Step) -> dict[str, Any] | None:
    """The proxy counters of the routes ``step``'s gates watch, or None if the proxy is down."""
    routes = step.routes_watched()
    if not routes:
        return None
    try:
        stats = endpoints.proxy_stats()
    except EndpointError:
        return None
    return {
        "since": stats.get("since"),
        "routes": {route: route_counters(stats, route) for route in routes},
    }


def step_traffic(
    endpoints: Endpoints, step: Step, baseline: dict[str, Any] | None
) -> dict[str, dict[str, int]] | None:
    """The counters of the routes ``step`` watches since it started (since the proxy started,
    if it restarted meanwhile), or None when the proxy does not answer."""
    routes = step.routes_watched()
    if not routes:
        return {}
    try:
        stats = endpoints.proxy_stats()
    except EndpointError:
        return None
    return {route: _since_step(stats, route, baseline)[0] for route in routes}


def _since_step(
    stats: dict[str, Any], route: str, baseline: dict[str, Any] | None
) -> tuple[dict[str, int], str]:
    now = route_counters(stats, route)
    if baseline and baseline.get("since") == stats.get("since"):
        start = (baseline.get("routes") or {}).get(route)
        if start:
            return {k: now[k] - int(start.get(k, 0)) for k in now}, "since the step started"
    return now, "since the proxy started"


def evaluate_gate(
    gate: Gate,
    endpoints: Endpoints,
    *,
    started_at: datetime,
    baseline: dict[str, Any] | None,
    now: datetime | None = None,
) -> GateResult:
    moment = now if now is not None else datetime.now(UTC)
    try:
        return _evaluate(gate, endpoints, started_at=started_at, baseline=baseline, now=moment)
    except EndpointError as err:
        return GateResult(gate.describe(), False, "unavailable", _threshold(gate), str(err))


def evaluate_gates(
    step: Step,
    endpoints: Endpoints,
    *,
    started_at: datetime,
    baseline: dict[str, Any] | None,
    now: datetime | None = None,
) -> list[GateResult]:
    return [
        evaluate_gate(gate, endpoints, started_at=started_at, baseline=baseline, now=now)
        for gate in step.gates
    ]


def _reconcile_drift(
    gate: ReconcileDriftGate, endpoints: Endpoints, *, now: datetime, threshold: str
) -> GateResult:
    """The newest stored run of each aggregate, at the service that owns it."""
    seen: list[str] = []
    problems: list[str] = []
    for aggregate in gate.aggregates:
        capability = SPECS[aggregate].capability
        runs = endpoints.sync_stats(capability).get("reconciliations") or {}
        run = runs.get(aggregate) if isinstance(runs, dict) else None
        if not isinstance(run, dict):
            seen.append(f"{aggregate} never reconciled")
            problems.append(aggregate)
            continue
        try:
            finished = datetime.fromisoformat(str(run["finished_at"]).replace("Z", "+00:00"))
        except (KeyError, ValueError):
            raise EndpointError(
                f"{capability} service: reconciliation of {aggregate} has no finished_at"
            ) from None
        age = (now - finished).total_seconds()
        drift = int(run.get("drift") or 0)
        clean = run.get("clean") is True or run.get("clean_after_repair") is True
        if clean:
            seen.append(f"{aggregate} clean {age:.0f}s ago")
        else:
            seen.append(f"{aggregate} {drift} drifted {age:.0f}s ago")
        if not clean or age > gate.max_age_s:
            problems.append(aggregate)
    observed = "; ".join(seen)
    reason = None
    if problems:
        reason = (
            "run 'strangler sync reconcile --aggregate AGG' (with --repair to fix drift) for "
            + ", ".join(problems)
        )
    return GateResult(gate.describe(), not problems, observed, threshold, reason)


def _threshold(gate: Gate) -> str:
    if isinstance(gate, ShadowParityGate):
        return f"compared ≥ {gate.min_compared}, mismatches ≤ {gate.max_mismatches}"
    if isinstance(gate, SyncBacklogGate):
        return f"pending ≤ {gate.max_pending}, oldest ≤ {gate.max_age_s:g}s"
    if isinstance(gate, BackfillDoneGate):
        return "done"
    if isinstance(gate, ReverseBacklogGate):
        return (
            f"pending ≤ {gate.max_pending}, oldest ≤ {gate.max_age_s:g}s, "
            f"dead letters ≤ {gate.max_dead_letters}"
        )
    if isinstance(gate, ReconcileDriftGate):
        return f"each clean, finished ≤ {gate.max_age_s:g}s ago"
    if isinstance(gate, BooksBalanceGate):
        return "no imbalance"
    if isinstance(gate, MonolithServedGate):
        return (
            f"monolith-served ≤ {gate.max_requests}, requests ≥ {gate.min_requests}, "
            f"window ≥ {gate.min_window_s:g}s"
        )
    return f"rate ≤ {gate.max_rate:.2%}, requests ≥ {gate.min_requests}"


def _evaluate(
    gate: Gate,
    endpoints: Endpoints,
    *,
    started_at: datetime,
    baseline: dict[str, Any] | None,
    now: datetime,
) -> GateResult:
    threshold = _threshold(gate)
    if isinstance(gate, ShadowParityGate):
        counters, window = _since_step(endpoints.proxy_stats(), gate.route, baseline)
        mismatches = endpoints.mismatch_count(gate.route, started_at)
        passed = counters["compared"] >= gate.min_compared and mismatches <= gate.max_mismatches
        observed = f"compared {counters['compared']} {window}, mismatches {mismatches}"
        return GateResult(gate.describe(), passed, observed, threshold)
    if isinstance(gate, SyncBacklogGate):
        stats = endpoints.outbox_stats(gate.capability)
        pending = int(stats["pending"])
        age = stats.get("oldest_pending_age_s")
        age_s = float(age) if isinstance(age, int | float) else 0.0
        passed = pending <= gate.max_pending and age_s <= gate.max_age_s
        observed = f"pending {pending}, oldest {age_s:.1f}s"
        return GateResult(gate.describe(), passed, observed, threshold)
    if isinstance(gate, BackfillDoneGate):
        # A job's checkpoint (and its ranges', ``products#2``) is kept by the service of the
        # capability that owns the job; a name that is no job's is looked for at inventory.
        known = JOBS.get(gate.job.split("#")[0])
        owner: Capability = known.capability if known else "inventory"
        jobs = {
            job.get("job"): job
            for job in endpoints.sync_stats(owner)["backfills"]
            if isinstance(job, dict)
        }
        job = jobs.get(gate.job)
        if job is None:
            return GateResult(
                gate.describe(),
                False,
                "not started",
                threshold,
                f"the {owner} service has no backfill checkpoint {gate.job!r} yet "
                "(run 'strangler sync backfill')",
            )
        observed = f"{'done' if job.get('done') else 'running'}, {job.get('rows', 0)} rows"
        return GateResult(gate.describe(), job.get("done") is True, observed, threshold)
    if isinstance(gate, ReverseBacklogGate):
        picture = endpoints.reverse_picture(gate.capability)
        age_s = picture.reverse_oldest_pending_age_s or 0.0
        passed = (
            picture.reverse_pending <= gate.max_pending
            and age_s <= gate.max_age_s
            and picture.monolith_dead_letters <= gate.max_dead_letters
        )
        observed = (
            f"monolith {picture.monolith}, service {picture.service}; pending "
            f"{picture.reverse_pending}, oldest {age_s:.1f}s, dead letters "
            f"{picture.monolith_dead_letters}"
        )
        return GateResult(gate.describe(), passed, observed, threshold)
    if isinstance(gate, ReconcileDriftGate):
        return _reconcile_drift(gate, endpoints, now=now, threshold=threshold)
    if isinstance(gate, BooksBalanceGate):
        books = Books.from_texts({name: endpoints.canonical_rows(name) for name in BOOKS})
        found = imbalances(books)
        counts = (
            f"{len(books.products)} products, {len(books.reservations)} reservations, "
            f"{len(books.payments)} payments, {len(books.orders)} orders"
        )
        if not found:
            return GateResult(gate.describe(), True, f"balanced over {counts}", threshold)
        observed = f"{len(found)} imbalance(s) over {counts}: " + "; ".join(found[:BOOKS_EXAMPLES])
        return GateResult(gate.describe(), False, observed, threshold)
    if isinstance(gate, MonolithServedGate):
        stats = endpoints.proxy_stats()
        served = total = 0
        for route in gate.routes:
            if route not in stats["routes"]:
                raise EndpointError(f"the proxy has no route {route!r}")
            counters, window = _since_step(stats, route, baseline)
            total += counters["requests"]
            served += counters["monolith"]
        lasted = max(0.0, (now - started_at).total_seconds())
        passed = (
            served <= gate.max_requests
            and total >= gate.min_requests
            and lasted >= gate.min_window_s
        )
        observed = f"monolith served {served} of {total} requests in {lasted:.0f}s {window}"
        return GateResult(gate.describe(), passed, observed, threshold)
    assert isinstance(gate, ErrorRateGate)
    counters, window = _since_step(endpoints.proxy_stats(), gate.route, baseline)
    requests, errors = counters["requests"], counters["errors"]
    rate = errors / requests if requests else 0.0
    passed = requests >= gate.min_requests and rate <= gate.max_rate
    observed = f"{errors} errors in {requests} requests ({rate:.2%}) {window}"
    return GateResult(gate.describe(), passed, observed, threshold)
