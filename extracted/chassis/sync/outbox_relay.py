"""The service side of the outbox relay (reverse sync): hand a service's pending own-outbox
events to a publisher in batches, and describe the outbox for a drain.

The mirror of ``monolith/outbox/relay.py``: rows are locked with ``SELECT ... FOR UPDATE SKIP
LOCKED`` (several relays never hand over the same event; SQLite's ``BEGIN IMMEDIATE`` serialises
them instead), and marked published only after ``publish`` returned for every one of them, in the
transaction that selected them. If ``publish`` raises, nothing of the batch is marked.

Only events written while the service was the source are pending: the others are recorded
already ``skipped`` (``extracted.chassis.sync.direction``), so the relay never sends back what the
monolith itself wrote (or what the service wrote while it was not the source).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Boolean, func, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker
from sqlalchemy.sql import false

from contracts.direction import OutboxTail
from contracts.events import EventEnvelope
from extracted.chassis.sync.outbox_columns import OutboxEventColumns
from extracted.chassis.timefmt import as_utc, utcnow

Publisher = Callable[[dict[str, Any]], None]
#: Takes a whole batch's envelopes at once (seq order); returns once the broker has them all.
BatchPublisher = Callable[[list[dict[str, Any]]], None]


class SkippedColumn:
    """Declarative mixin for an outbox that reverse sync reads: ``skipped`` rows were written
    while the service was not the source; they are born published and never sent."""

    skipped: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class RelayedOutbox(OutboxEventColumns, SkippedColumn):
    """The shape ``relay_batch`` reads (for typing: each service declares its own table)."""


OutboxT = TypeVar("OutboxT", bound=RelayedOutbox)


def envelope_of(event: OutboxEventColumns) -> dict[str, Any]:
    """The wire form of one outbox row (validated against the contract)."""
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
    ).model_dump(mode="json")


def relay_batch(
    sessions: sessionmaker[Session], model: type[OutboxT], publish: Publisher, *, limit: int = 500
) -> int:
    """Publish up to ``limit`` pending events in seq order, one ``publish`` call each; how many
    were published (``relay_batches`` with a per-event publisher)."""

    def publish_each(envelopes: list[dict[str, Any]]) -> None:
        for envelope in envelopes:
            publish(envelope)

    return relay_batches(sessions, model, publish_each, limit=limit)


def relay_batches(
    sessions: sessionmaker[Session],
    model: type[OutboxT],
    publish: BatchPublisher,
    *,
    limit: int = 500,
) -> int:
    """Hand up to ``limit`` pending events in seq order to ``publish`` in one call (the reverse
    relay packs them several to a broker message); how many were published."""
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    with sessions.begin() as session:
        events = session.scalars(
            select(model)
            .where(model.published_at.is_(None))
            .order_by(model.seq)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
        if events:
            publish([envelope_of(event) for event in events])
            session.execute(
                update(model)
                .where(model.seq.in_([event.seq for event in events]))
                .values(published_at=utcnow())
            )
    return len(events)


def outbox_tail(
    session: Session, model: type[OutboxT], *, limit: int, in_flight: int = 0
) -> OutboxTail:
    """Pending events, the oldest one's age, the newest ``limit`` sent event ids, and
    ``in_flight``: writes accepted whose events are still to be recorded (the orders saga's)."""
    pending, oldest = session.execute(
        select(func.count(), func.min(model.occurred_at)).where(model.published_at.is_(None))
    ).one()
    recent = session.scalars(
        select(model.event_id)
        .where(model.published_at.is_not(None), model.skipped.is_(False))
        .order_by(model.seq.desc())
        .limit(limit)
    ).all()
    age: float | None = None
    if oldest is not None:
        when: datetime = as_utc(oldest)
        age = max(0.0, (utcnow() - when).total_seconds())
    return OutboxTail(
        pending=pending,
        oldest_pending_age_s=age,
        recent_event_ids=list(recent),
        in_flight=in_flight,
    )
