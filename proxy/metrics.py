"""What the proxy did, counted: Prometheus collectors for scraping, and the per-route summary
that ``GET /admin/stats`` returns (the plan's gates read it)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client import Counter as PromCounter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from proxy.resilience import Breakers

ShadowOutcome = Literal["compared", "mismatched", "dropped", "skipped"]
SHADOW_OUTCOMES: tuple[ShadowOutcome, ...] = (
    "compared",
    "mismatched",
    "dropped",
    "skipped",
)

SkipReason = Literal["write_without_dry_run", "queue_full"]


@dataclass
class _RouteStats:
    requests: Counter[str] = field(default_factory=Counter)
    errors: int = 0
    fallbacks: int = 0
    shadow: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": dict(self.requests),
            "errors": self.errors,
            "fallbacks": self.fallbacks,
            "shadow": {outcome: self.shadow[outcome] for outcome in SHADOW_OUTCOMES},
        }


class ProxyMetrics:
    """Counters of one proxy process (its own registry, so several can live in one test run)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.since = datetime.now(UTC)
        self._lock = threading.Lock()
        self._routes: dict[str, _RouteStats] = {}
        self.requests = PromCounter(
            "strangler_proxy_requests_total",
            "Client requests answered, by route, upstream, mode and status class.",
            ["route", "upstream", "mode", "status_class"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "strangler_proxy_request_duration_seconds",
            "Time from request received to response ready, by route and mode.",
            ["route", "mode"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
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
        self.retries = PromCounter(
            "proxy_upstream_retries",
            "Idempotent requests sent again to the same upstream (connection failure or 502-504).",
            ["upstream"],
            registry=self.registry,
        )
        self.retry_budget_exhausted = PromCounter(
            "proxy_retry_budget_exhausted",
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

    def _route(self, route: str) -> _RouteStats:
        stats = self._routes.get(route)
        if stats is None:
            stats = self._routes.setdefault(route, _RouteStats())
        return stats

    def observe_request(
        self, *, route: str, upstream: str, mode: str, status: int, seconds: float
    ) -> None:
        self.requests.labels(route, upstream, mode, f"{status // 100}xx").inc()
        self.latency.labels(route, mode).observe(seconds)
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

    def summary(self, route_names: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
        """The ``GET /admin/stats`` body; every configured route appears, even with no traffic."""
        with self._lock:
            names = list(dict.fromkeys([*route_names, *self._routes]))
            routes = {name: self._routes.get(name, _RouteStats()).as_dict() for name in names}
        return {"since": self.since.isoformat().replace("+00:00", "Z"), "routes": routes}


class _BreakerCollector(Collector):
    def __init__(self, breakers: Breakers) -> None:
        self._breakers = breakers

    def collect(self) -> Iterable[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "strangler_proxy_breaker_open",
            "1 while the upstream's circuit breaker skips it (open or half-open), else 0.",
            labels=["upstream"],
        )
        for name, state in self._breakers.states().items():
            family.add_metric([name], 0.0 if state == "closed" else 1.0)
        yield family
