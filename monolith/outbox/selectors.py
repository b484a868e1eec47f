"""Reads of the outbox."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, get_args

from django.db.models import Count, Min
from django.utils import timezone

from contracts.direction import OutboxTail
from contracts.events import CAPABILITY_AGGREGATES, AggregateType, Capability
from monolith.outbox.models import OutboxEvent

#: Per capability: how many accepted writes have not recorded their events yet (writes made in
#: steps, e.g. the orders' remote checkouts). Registered by the app in its ``ready()``.
_IN_FLIGHT: dict[str, Callable[[], int]] = {}


def register_in_flight(capability: Capability, count: Callable[[], int]) -> None:
    _IN_FLIGHT[capability] = count


def outbox_stats(*, capability: Capability | None = None) -> dict[str, Any]:
    """``{"pending", "total", "oldest_pending_age_s", "by_aggregate_type"}`` of the events of one
    capability's aggregates (all when ``None``); the per-type counts are of all events of those
    types (each listed, zero included)."""
    types: tuple[str, ...] = (
        get_args(AggregateType) if capability is None else CAPABILITY_AGGREGATES[capability]
    )
    events = OutboxEvent.objects.filter(aggregate_type__in=types)
    total = events.count()
    pending = events.filter(published_at__isnull=True).aggregate(
        count=Count("seq"), oldest=Min("occurred_at")
    )
    oldest = pending["oldest"]
    by_type = dict.fromkeys(types, 0)
    for row in events.values("aggregate_type").annotate(n=Count("seq")):
        by_type[row["aggregate_type"]] = row["n"]
    return {
        "pending": pending["count"],
        "total": total,
        "oldest_pending_age_s": (
            (timezone.now() - oldest).total_seconds() if oldest is not None else None
        ),
        "by_aggregate_type": by_type,
    }


def outbox_tail(*, capability: Capability, limit: int) -> OutboxTail:
    """The capability's outbox as a drain reads it: pending events, the oldest one's age, the
    ids of the newest ``limit`` events the relay published (newest first), and the writes in
    flight (``register_in_flight``)."""
    # Writes in flight first: one that ends meanwhile records its event in the same transaction
    # that ends it, so it is counted in one of the two, never in neither.
    count_in_flight = _IN_FLIGHT.get(capability)
    in_flight = count_in_flight() if count_in_flight is not None else 0
    events = OutboxEvent.objects.filter(aggregate_type__in=CAPABILITY_AGGREGATES[capability])
    pending = events.filter(published_at__isnull=True).aggregate(
        count=Count("seq"), oldest=Min("occurred_at")
    )
    oldest = pending["oldest"]
    recent = events.filter(published_at__isnull=False).order_by("-seq")[:limit]
    return OutboxTail(
        pending=pending["count"],
        oldest_pending_age_s=(
            (timezone.now() - oldest).total_seconds() if oldest is not None else None
        ),
        recent_event_ids=list(recent.values_list("event_id", flat=True)),
        in_flight=in_flight,
    )
