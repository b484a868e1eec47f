"""Reads of the outbox."""

from __future__ import annotations

from typing import Any, get_args

from django.db.models import Count, Min
from django.utils import timezone

from contracts.events import AggregateType
from monolith.outbox.models import OutboxEvent


def outbox_stats() -> dict[str, Any]:
    """``{"pending", "total", "oldest_pending_age_s", "by_aggregate_type"}``; the per-type counts
    are of all events (every aggregate type of the contract is listed, zero included)."""
    total = OutboxEvent.objects.count()
    pending = OutboxEvent.objects.filter(published_at__isnull=True).aggregate(
        count=Count("seq"), oldest=Min("occurred_at")
    )
    oldest = pending["oldest"]
    by_type = {name: 0 for name in get_args(AggregateType)}
    for row in OutboxEvent.objects.values("aggregate_type").annotate(n=Count("seq")):
        by_type[row["aggregate_type"]] = row["n"]
    return {
        "pending": pending["count"],
        "total": total,
        "oldest_pending_age_s": (
            (timezone.now() - oldest).total_seconds() if oldest is not None else None
        ),
        "by_aggregate_type": by_type,
    }
