"""Prometheus metrics of a sync subscriber, computed from its own database at scrape time.

Scraped at the service's ``GET /metrics`` (docs/components.md "Sync"). Why from the database and
not from counters in the worker: the events are applied by Celery workers (several processes,
restarted at will) while the service's HTTP process is the one with a stable address; the
``processed_events`` rows already hold each event's commit-to-applied lag, so the histogram is
exact, survives restarts and needs no multiprocess mode. A scrape scans the lag column once.

* ``strangler_sync_commit_to_applied_seconds{capability}`` histogram: origin commit to applied
  here, every event processed (applied or stale).
* ``strangler_sync_dead_letters{capability}`` gauge: events parked, waiting for a replay.

The other half of lag, the age of the oldest event the relay has not published, is the
monolith's to tell (``strangler_outbox_oldest_pending_age_seconds`` at its ``/metrics``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Final

from fastapi import APIRouter
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.orm import InstrumentedAttribute, Session, sessionmaker
from starlette.responses import Response

from extracted.chassis.sync.dead_letters import DeadLetterColumns, dead_letter_count

#: Upper bounds (seconds): fine below the 250 ms target, coarse for a backlog draining.
LAG_BUCKETS: Final = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


class SyncCollector(Collector):
    def __init__(
        self,
        *,
        capability: str,
        sessions: Callable[[], sessionmaker[Session]],
        lag_column: InstrumentedAttribute[float],
        dead_letter_model: type[DeadLetterColumns],
    ) -> None:
        self.capability = capability
        self._sessions = sessions
        self._lag = lag_column
        self._dead = dead_letter_model

    def collect(self) -> Iterable[Metric]:
        sessions = self._sessions()
        counts = [func.count().filter(self._lag <= bound) for bound in LAG_BUCKETS]
        with sessions() as session:
            row = session.execute(
                select(*counts, func.count(self._lag), func.coalesce(func.sum(self._lag), 0.0))
            ).one()
            dead = dead_letter_count(session, self._dead)
        *cumulative, total, lag_sum = row
        buckets = [(str(b), int(n)) for b, n in zip(LAG_BUCKETS, cumulative, strict=True)]
        buckets.append(("+Inf", int(total)))
        histogram = HistogramMetricFamily(
            "strangler_sync_commit_to_applied_seconds",
            "Origin commit to applied by this subscriber, per processed event.",
            labels=["capability"],
        )
        histogram.add_metric([self.capability], buckets, float(lag_sum))
        yield histogram
        gauge = GaugeMetricFamily(
            "strangler_sync_dead_letters",
            "Events parked as dead letters, waiting for a replay.",
            labels=["capability"],
        )
        gauge.add_metric([self.capability], dead)
        yield gauge


def metrics_router(collector: Collector) -> APIRouter:
    """``GET /metrics``: ``collector`` in the Prometheus text format."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    router = APIRouter()

    @router.get("/metrics")
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return router
