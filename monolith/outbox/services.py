"""Writes of the outbox: recording events beside the rows they describe, in the same transaction."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from contracts.events import AggregateType
from monolith.outbox.models import OutboxEvent


class OutboxOutsideTransaction(RuntimeError):
    """An event recorded outside a transaction could outlive (or miss) the write it describes."""


@dataclass(frozen=True)
class NewEvent:
    """One event to record in bulk (``outbox_record_many``)."""

    aggregate_type: AggregateType
    aggregate_id: str
    event_type: str
    version: int
    payload: dict[str, Any]
    occurred_at: datetime | None = None


def _require_transaction() -> None:
    if not transaction.get_connection().in_atomic_block:
        raise OutboxOutsideTransaction(
            "outbox events must be recorded inside transaction.atomic(), with the write they "
            "describe"
        )


def outbox_record(
    *,
    aggregate_type: AggregateType,
    aggregate_id: str,
    event_type: str,
    version: int,
    payload: dict[str, Any],
    occurred_at: datetime | None = None,
) -> OutboxEvent:
    """Record one event in the current transaction; refuses to run outside ``atomic()``.

    ``occurred_at`` defaults to now; writers pass the timestamp they stamped on the row.
    """
    _require_transaction()
    return OutboxEvent.objects.create(
        aggregate_type=aggregate_type,
        aggregate_id=aggregate_id,
        event_type=event_type,
        version=version,
        payload=payload,
        occurred_at=occurred_at or timezone.now(),
    )


def outbox_record_many(*, events: Iterable[NewEvent], batch_size: int = 1000) -> int:
    """Record many events at once (bulk loads); same rule: only inside ``atomic()``."""
    _require_transaction()
    now = timezone.now()
    rows = [
        OutboxEvent(
            aggregate_type=event.aggregate_type,
            aggregate_id=event.aggregate_id,
            event_type=event.event_type,
            version=event.version,
            payload=event.payload,
            occurred_at=event.occurred_at or now,
        )
        for event in events
    ]
    OutboxEvent.objects.bulk_create(rows, batch_size=batch_size)
    return len(rows)
