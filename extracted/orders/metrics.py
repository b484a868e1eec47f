"""Prometheus metrics of the orders service (one registry per app, so tests can build many).

* ``orders_sagas_stuck``: sagas whose compensation keeps failing (listed at
  ``/internal/sagas/stuck``); read from the database at every scrape.
* ``orders_sagas_active``: sagas not in a terminal state, by kind.
* ``orders_saga_outcomes_total{kind, outcome}``: sagas that ended, by how.
* ``orders_upstream_breaker_open{upstream}``: 1 while that upstream's breaker refuses calls.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

from extracted.orders.clients.breaker import CircuitBreaker


class OrdersMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.stuck = Gauge(
            "orders_sagas_stuck", "Sagas whose compensation keeps failing", registry=self.registry
        )
        self.active = Gauge(
            "orders_sagas_active", "Sagas not finished", ["kind"], registry=self.registry
        )
        self.outcomes = Counter(
            "orders_saga_outcomes",
            "Sagas that ended, by outcome",
            ["kind", "outcome"],
            registry=self.registry,
        )
        self.breaker_open = Gauge(
            "orders_upstream_breaker_open",
            "1 while the upstream's circuit breaker refuses calls",
            ["upstream"],
            registry=self.registry,
        )

    def render(
        self,
        *,
        counts: Callable[[], tuple[int, Mapping[str, int]]],
        breakers: Mapping[str, CircuitBreaker],
    ) -> bytes:
        stuck, active = counts()
        self.stuck.set(stuck)
        for kind in ("checkout", "cancel"):
            self.active.labels(kind=kind).set(active.get(kind, 0))
        for name, breaker in breakers.items():
            self.breaker_open.labels(upstream=name).set(1 if breaker.is_open() else 0)
        return generate_latest(self.registry)
