"""Writes of the outbox: recording events beside the rows they describe, in the same transaction."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from django.db import connection, transaction
from django.db.models import Field
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
    event = OutboxEvent(
        aggregate_type=aggregate_type,
        aggregate_id=aggregate_id,
        event_type=event_type,
        version=version,
        payload=payload,
        occurred_at=occurred_at or timezone.now(),
    )
    _insert(event)
    return event


def _insert(event: OutboxEvent) -> None:
    """``event.save()`` in one prepared ``INSERT``: every write of the monolith records an
    event, and the ORM's save (signals, compiling the statement anew each time) is a large
    share of a small write's CPU. Values are prepared by the fields
    themselves, as the ORM does; ``seq`` comes back from the database."""
    sql, fields, returns_seq = _insert_statement(connection.vendor)
    params = [field.get_db_prep_save(field.pre_save(event, True), connection) for field in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        event.seq = cursor.fetchone()[0] if returns_seq else cursor.lastrowid
    event._state.adding = False
    event._state.db = connection.alias


@cache
def _insert_statement(vendor: str) -> tuple[str, list[Field[Any, Any]], bool]:
    """The outbox's INSERT for this database (built once): its SQL, the fields in parameter
    order, and whether it returns ``seq`` (else the cursor's ``lastrowid`` holds it)."""
    meta = OutboxEvent._meta
    fields = [field for field in meta.concrete_fields if not field.primary_key]
    quote = connection.ops.quote_name
    returns_seq = connection.features.can_return_columns_from_insert
    sql = "INSERT INTO {} ({}) VALUES ({}){}".format(
        quote(meta.db_table),
        ", ".join(quote(field.column) for field in fields),
        ", ".join(["%s"] * len(fields)),
        f" RETURNING {quote(meta.pk.column)}" if returns_seq else "",
    )
    return sql, fields, returns_seq


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
