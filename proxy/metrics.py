"""What the proxy did, counted: Prometheus collectors for scraping, and the per-route summary
that ``GET /admin/stats`` returns (the plan's gates and the dashboard read it).

Labels are bounded: route and upstream names from the route file, the mode, a status class, an
outcome or reason from a fixed list — never a path or a client. Mismatch rate for a graph:
``rate(strangler_proxy_shadow_mismatches_total[5m]) /
rate(strangler_proxy_shadow_comparisons_total[5m])``; ``strangler_proxy_shadow_mismatch_ratio``
is the same over each route's last :data:`RECENT_COMPARISONS` comparisons, for a glance.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from prometheus_client import CollectorRegistry, Gauge
from prometheus_client import Counter as PromCounter
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.registry import Collector

from proxy.resilience import Breakers

BREAKER_STATES = ("closed", "open", "half_open")

ShadowOutcome = Literal["compared", "mismatched", "dropped", "skipped"]
SHADOW_OUTCOMES: tuple[ShadowOutcome, ...] = (
    "compared",
    "mismatched",
    "dropped",
    "skipped",
)

SkipReason = Literal["write_without_dry_run", "queue_full"]
#: How many of a route's latest comparisons the recent mismatch ratio covers.
RECENT_COMPARISONS = 200
#: Upper bounds (seconds) of the request latency histogram's buckets (+Inf implied).
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class _Series:
    """One (route, upstream, mode, status class): a count, a latency sum and per-bucket counts
    (not cumulative; the collector sums them up at scrape time)."""

    __slots__ = ("buckets", "count", "seconds")

    def __init__(self) -> None:
        self.count = 0
        self.seconds = 0.0
        self.buckets = [0] * (len(LATENCY_BUCKETS) + 1)


@dataclass
class _RouteStats:
    requests: Counter[str] = field(default_factory=Counter)
    errors: int = 0
    fallbacks: int = 0
    shadow: Counter[str] = field(default_factory=Counter)
    #: 1 per recent comparison that mismatched, 0 per one that matched (newest last).
    recent: deque[int] = field(default_factory=lambda: deque(maxlen=RECENT_COMPARISONS))

    def recent_ratio(self) -> float | None:
        return sum(self.recent) / len(self.recent) if self.recent else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": dict(self.requests),
            "errors": self.errors,
            "fallbacks": self.fallbacks,
            "shadow": {outcome: self.shadow[outcome] for outcome in SHADOW_OUTCOMES},
            "recent_mismatch_ratio": self.recent_ratio(),
        }


class ProxyMetrics:
    """Counters of one proxy process (its own registry, so several can live in one test run)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.since = datetime.now(UTC)
        self._lock = threading.Lock()
        self._routes: dict[str, _RouteStats] = {}
        #: Requests answered, kept in plain objects updated on the event loop's thread (no
        #: lock, no label look-up per request: prometheus-client's ``labels()`` and histogram
        #: ``observe`` take both on every call) and exported by :class:`_RequestCollector` at
        #: scrape time under the same names and labels.
        self._series: dict[tuple[str, str, str, int], _Series] = {}
        self.registry.register(_RequestCollector(self._series))
        self.upstream_errors = PromCounter(
            "strangler_proxy_upstream_errors_total",
            "Upstream calls that got no HTTP answer, or a 5xx, by upstream and kind.",
            ["upstream", "kind"],
            registry=self.registry,
        )
        self.fallbacks = PromCounter(
            "strangler_proxy_fallbacks_total",
            "Idempotent requests retried on the route's fallback upstream.",
            ["route", "from_upstream", "to_upstream"],
            registry=self.registry,
        )
        self.shadow = PromCounter(
            "strangler_proxy_shadow_total",
            "Shadow requests by outcome: compared, mismatched, dropped (queue full), skipped "
            "(a write to an upstream without dry-run). A target that gives no answer is a "
            "mismatch.",
            ["route", "outcome"],
            registry=self.registry,
        )
        self.shadow_skipped = PromCounter(
            "strangler_proxy_shadow_skipped_total",
            "Shadow copies not sent, by route and reason (write_without_dry_run: a write whose "
            "target does not honour X-Strangler-Dry-Run; queue_full: dropped, the queue was "
            "full).",
            ["route", "reason"],
            registry=self.registry,
        )
        self.comparisons = PromCounter(
            "strangler_proxy_shadow_comparisons_total",
            "Shadow answers compared with the primary's, by route and target.",
            ["route", "target"],
            registry=self.registry,
        )
        self.mismatches = PromCounter(
            "strangler_proxy_shadow_mismatches_total",
            "Shadow answers that differed from the primary's (or gave none), by route and target.",
            ["route", "target"],
            registry=self.registry,
        )
        self.mismatch_ratio = Gauge(
            "strangler_proxy_shadow_mismatch_ratio",
            f"Share of the route's last {RECENT_COMPARISONS} shadow comparisons that mismatched.",
            ["route"],
            registry=self.registry,
        )
        self._queue_depth: Callable[[], int] | None = None
        self.retries = PromCounter(
            "strangler_proxy_upstream_retries_total",
            "Idempotent requests sent again to the same upstream (connection failure or 502-504).",
            ["upstream"],
            registry=self.registry,
        )
        self.retry_budget_exhausted = PromCounter(
            "strangler_proxy_retry_budget_exhausted_total",
            "Retries not sent because the upstream's retry budget was used up.",
            ["upstream"],
            registry=self.registry,
        )

    def observe_retry(self, *, upstream: str, sent: bool) -> None:
        """A retry sent (``sent``) or refused by the budget."""
        (self.retries if sent else self.retry_budget_exhausted).labels(upstream).inc()

    def watch_breakers(self, breakers: Breakers) -> None:
        """Export each upstream's breaker state at scrape time."""
        self.registry.register(_BreakerCollector(breakers))

    def watch_shadow_queue(self, depth: Callable[[], int]) -> None:
        """Export the shadow queue's depth at scrape time (and in the summary)."""
        self._queue_depth = depth
        self.registry.register(_QueueCollector(depth))

    def _route(self, route: str) -> _RouteStats:
        stats = self._routes.get(route)
        if stats is None:
            stats = self._routes.setdefault(route, _RouteStats())
        return stats

    def observe_request(
        self, *, route: str, upstream: str, mode: str, status: int, seconds: float
    ) -> None:
        """One answered request. Called on the event loop's thread only (lock-free)."""
        key = (route, upstream, mode, status // 100)
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = _Series()
        series.count += 1
        series.seconds += seconds
        series.buckets[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        stats = self._routes.get(route)
        if stats is None:
            with self._lock:
                stats = self._route(route)
        stats.requests[upstream] += 1
        if status >= 500:
            stats.errors += 1

    def observe_upstream_error(self, *, upstream: str, kind: str) -> None:
        self.upstream_errors.labels(upstream, kind).inc()

    def observe_fallback(self, *, route: str, from_upstream: str, to_upstream: str) -> None:
        self.fallbacks.labels(route, from_upstream, to_upstream).inc()
        with self._lock:
            self._route(route).fallbacks += 1

    def observe_shadow(
        self, *, route: str, outcome: ShadowOutcome, reason: SkipReason | None = None
    ) -> None:
        self.shadow.labels(route, outcome).inc()
        if reason is not None:
            self.shadow_skipped.labels(route, reason).inc()
        with self._lock:
            self._route(route).shadow[outcome] += 1

    def observe_comparison(self, *, route: str, target: str, mismatched: bool) -> None:
        """One shadow answer compared: counters for rate(), and the recent ratio."""
        self.observe_shadow(route=route, outcome="compared")
        self.comparisons.labels(route, target).inc()
        if mismatched:
            self.observe_shadow(route=route, outcome="mismatched")
            self.mismatches.labels(route, target).inc()
        with self._lock:
            stats = self._route(route)
            stats.recent.append(1 if mismatched else 0)
            ratio = stats.recent_ratio()
        self.mismatch_ratio.labels(route).set(ratio or 0.0)

    def summary(self, route_names: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
        """The ``GET /admin/stats`` body; every configured route appears, even with no traffic."""
        with self._lock:
            names = list(dict.fromkeys([*route_names, *self._routes]))
            routes = {name: self._routes.get(name, _RouteStats()).as_dict() for name in names}
        return {
            "since": self.since.isoformat().replace("+00:00", "Z"),
            "routes": routes,
            "shadow_queue_depth": self._queue_depth() if self._queue_depth else 0,
        }


class _RequestCollector(Collector):
    """``strangler_proxy_requests_total`` and ``strangler_proxy_request_duration_seconds`` from
    :class:`ProxyMetrics`' plain series, built at scrape time."""

    def __init__(self, series: dict[tuple[str, str, str, int], _Series]) -> None:
        self._series = series

    def collect(self) -> Iterable[CounterMetricFamily | HistogramMetricFamily]:
        requests = CounterMetricFamily(
            "strangler_proxy_requests",
            "Client requests answered, by route, upstream, mode and status class.",
            labels=["route", "upstream", "mode", "status_class"],
        )
        latency = HistogramMetricFamily(
            "strangler_proxy_request_duration_seconds",
            "Time from request received to response ready, by route, upstream and mode.",
            labels=["route", "upstream", "mode"],
        )
        merged: dict[tuple[str, str, str], tuple[list[int], list[float]]] = {}
        for (route, upstream, mode, status_class), series in list(self._series.items()):
            requests.add_metric([route, upstream, mode, f"{status_class}xx"], series.count)
            buckets, total = merged.setdefault(
                (route, upstream, mode), ([0] * len(series.buckets), [0.0])
            )
            for i, n in enumerate(series.buckets):
                buckets[i] += n
            total[0] += series.seconds
        bounds = [*(str(float(b)) for b in LATENCY_BUCKETS), "+Inf"]
        for labels, (buckets, total) in merged.items():
            cumulative, running = [], 0
            for bound, n in zip(bounds, buckets, strict=True):
                running += n
                cumulative.append((bound, float(running)))
            latency.add_metric(list(labels), cumulative, total[0])
        yield requests
        yield latency


class _BreakerCollector(Collector):
    def __init__(self, breakers: Breakers) -> None:
        self._breakers = breakers

    def collect(self) -> Iterable[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "strangler_proxy_breaker_open",
            "1 while the upstream's circuit breaker skips it (open or half-open), else 0.",
            labels=["upstream"],
        )
        states = GaugeMetricFamily(
            "strangler_proxy_breaker_state",
            "1 for the state each upstream's circuit breaker is in (closed, open, half_open).",
            labels=["upstream", "state"],
        )
        for name, state in self._breakers.states().items():
            family.add_metric([name], 0.0 if state == "closed" else 1.0)
            for candidate in BREAKER_STATES:
                states.add_metric([name, candidate], 1.0 if state == candidate else 0.0)
        yield family
        yield states


class _QueueCollector(Collector):
    def __init__(self, depth: Callable[[], int]) -> None:
        self._depth = depth

    def collect(self) -> Iterable[GaugeMetricFamily]:
        yield GaugeMetricFamily(
            "strangler_proxy_shadow_queue_depth",
            "Shadow copies waiting to be sent.",
            value=float(self._depth()),
        )
