"""The monolith's half of the outbox relay: hand pending events to a publisher, in seq order.

Delivery is at least once: events are marked published only after ``publish`` returned for every
one of them, in the same transaction that selected them. If ``publish`` raises, nothing of the
batch is marked and the exception propagates; events already handed over are published again
next time, and subscribers drop them by ``event_id``. Concurrent relays never hand over the same
event: rows are locked with ``SELECT ... FOR UPDATE SKIP LOCKED`` where the database has it; on
SQLite the write lock taken when the transaction begins (``transaction_mode=IMMEDIATE``)
serialises relays instead.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from contracts.events import EventEnvelope
from monolith.outbox.models import OutboxEvent

Publisher = Callable[[dict[str, Any]], None]
#: Takes a whole batch's envelopes at once (seq order); returns once the broker has them all.
BatchPublisher = Callable[[list[dict[str, Any]]], None]


def envelope_of(event: OutboxEvent) -> EventEnvelope:
    """The wire form of one outbox row (validated: a row that does not fit the contract fails)."""
    return EventEnvelope.model_validate(
        {
            "event_id": event.event_id,
            "seq": event.seq,
            "aggregate_type": event.aggregate_type,
            "aggregate_id": event.aggregate_id,
            "event_type": event.event_type,
            "version": event.version,
            "occurred_at": event.occurred_at,
            "origin": event.origin,
            "payload": event.payload,
        }
    )


def relay_batch(
    publish: Publisher, *, limit: int = 500, aggregate_types: Collection[str] | None = None
) -> int:
    """Publish up to ``limit`` pending events in seq order, one ``publish`` call each; return how
    many were published (``relay_batches`` with a per-event publisher)."""

    def publish_each(envelopes: list[dict[str, Any]]) -> None:
        for envelope in envelopes:
            publish(envelope)

    return relay_batches(publish_each, limit=limit, aggregate_types=aggregate_types)


def relay_batches(
    publish: BatchPublisher, *, limit: int = 500, aggregate_types: Collection[str] | None = None
) -> int:
    """Hand up to ``limit`` pending events in seq order to ``publish`` in one call; return how
    many were published.

    ``aggregate_types`` limits the batch to the events somebody subscribes to; the others stay
    pending (not dropped), so a subscriber added later still gets them.
    """
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    with transaction.atomic():
        pending = OutboxEvent.objects.filter(published_at__isnull=True).order_by("seq")
        if aggregate_types is not None:
            pending = pending.filter(aggregate_type__in=list(aggregate_types))
        if connection.features.has_select_for_update_skip_locked:
            pending = pending.select_for_update(skip_locked=True)
        events = list(pending[:limit])
        if events:
            publish([envelope_of(event).model_dump(mode="json") for event in events])
            OutboxEvent.objects.filter(seq__in=[event.seq for event in events]).update(
                published_at=timezone.now()
            )
    return len(events)
