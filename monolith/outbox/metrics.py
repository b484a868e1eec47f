"""The outbox at the monolith's ``GET /metrics`` (Prometheus text), computed from the outbox
table at scrape time (gunicorn runs several processes: only the database knows the whole).

* ``strangler_outbox_pending_events{capability}``: events the relay has not published yet.
* ``strangler_outbox_oldest_pending_age_seconds{capability}``: how long the oldest of them has
  waited (0 when none): per subscriber capability, the part of lag before the broker.

Commit-to-applied latency is the subscriber's to tell (extracted.chassis.sync.metrics).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import get_args

from django.http import HttpRequest, HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from contracts.events import Capability
from monolith.outbox.selectors import outbox_stats


class OutboxCollector(Collector):
    def collect(self) -> Iterable[Metric]:
        pending = GaugeMetricFamily(
            "strangler_outbox_pending_events",
            "Outbox events the relay has not published yet.",
            labels=["capability"],
        )
        oldest = GaugeMetricFamily(
            "strangler_outbox_oldest_pending_age_seconds",
            "Age of the oldest outbox event not published yet (0 when none).",
            labels=["capability"],
        )
        for capability in get_args(Capability):
            stats = outbox_stats(capability=capability)
            pending.add_metric([capability], stats["pending"])
            oldest.add_metric([capability], stats["oldest_pending_age_s"] or 0.0)
        yield pending
        yield oldest


_registry = CollectorRegistry(auto_describe=False)
_registry.register(OutboxCollector())


def metrics_view(request: HttpRequest) -> HttpResponse:
    return HttpResponse(generate_latest(_registry), content_type=CONTENT_TYPE_LATEST)
