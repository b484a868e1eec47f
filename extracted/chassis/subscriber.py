"""The owner's half of an event subscriber, shared by every service: validate the envelope,
claim its event id, write the aggregate by version, say what happened.

Each service declares its ``processed_events`` table with ``ProcessedEventColumns`` and its own
``Base``, and builds an ``EventApplier`` with how to read its payload and how to write it: one
event in its own transaction (``apply``), in the caller's (``apply_in``), or several in one
(``apply_many``, what the relay's batch messages are applied with). Safe
under concurrent workers on PostgreSQL: the dedup row is claimed with
``INSERT ... ON CONFLICT DO NOTHING`` in the apply transaction (a second worker with the same
event id waits on the first's uncommitted row and then sees the conflict), and the service's
``write`` compares versions on a locked row. Nothing here records an own-outbox event, so applying
never emits one (no loops in reverse sync).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError
from sqlalchemy import Index, Integer, String, Table, Uuid, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from contracts.events import EventEnvelope
from extracted.chassis.db_types import UTCDateTime
from extracted.chassis.dead_letters import DeadLetterColumns, dead_letter_count
from extracted.chassis.timefmt import as_utc, utcnow

Outcome = Literal["applied", "duplicate", "stale"]

S = TypeVar("S", bound=BaseModel)


class SyncInputError(ValueError):
    """The envelope or batch is not what the contract says; nothing was applied."""


class ProcessedEventColumns:
    """Declarative mixin: every event id a subscriber processed once (dedup), with what it did
    and its lag. ``class ProcessedEvent(ProcessedEventColumns, Base)`` with
    ``__table_args__ = processed_events_indexes()``."""

    event_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    aggregate_type: Mapped[str] = mapped_column(String(32))
    aggregate_id: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer)
    #: "applied" or "stale" (a stale event is processed but changes nothing).
    outcome: Mapped[str] = mapped_column(String(16))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    applied_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: Commit at the origin to applied here, in seconds (the lag metrics read it).
    lag_s: Mapped[float]


def processed_events_indexes() -> tuple[Index]:
    """The table's index (a new ``Index`` per table: one cannot be shared)."""
    return (Index("processed_events_applied_at", "applied_at"),)


def dialect_insert(session: Session, table: Table) -> Any:
    """The dialect's INSERT with ``on_conflict_*`` (PostgreSQL and SQLite share the API)."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"no upsert for dialect {dialect!r}")


class EventApplier(Generic[S]):
    """How one service applies events: its ``processed_events`` table, the aggregate types it
    owns with the payload model of each, and ``write(session, aggregate_type, state)``, which
    writes the state if it is newer than the stored row (or missing) and says whether it did."""

    def __init__(
        self,
        *,
        processed: Table,
        states: dict[str, type[S]],
        write: Callable[[Session, str, S], bool],
    ) -> None:
        self.processed = processed
        self.states = states
        self.write = write

    def parse(self, aggregate_type: str, rows: list[dict[str, Any]]) -> list[S]:
        """``rows`` as the aggregate's state model; ``SyncInputError`` when they do not fit."""
        model = self.states.get(aggregate_type)
        if model is None:
            raise SyncInputError(
                f"unknown aggregate_type {aggregate_type!r} (expected one of {tuple(self.states)})"
            )
        try:
            return TypeAdapter(list[model]).validate_python(rows)  # type: ignore[valid-type]
        except ValidationError as exc:
            raise SyncInputError(f"invalid {aggregate_type} rows: {exc}") from None

    def apply(self, envelope: Any, sessions: sessionmaker[Session]) -> Outcome:
        """Apply one outbox event in its own transaction (``apply_in``)."""
        with sessions.begin() as session:
            return self.apply_in(session, envelope)

    def apply_many(
        self, envelopes: Sequence[Any], sessions: sessionmaker[Session]
    ) -> list[Outcome]:
        """Apply several outbox events in one transaction, each exactly as ``apply`` does; their
        outcomes in the order given. All or nothing: when any one raises, nothing is applied (the
        worker then applies them one by one and parks the poison ones, ``sync.event_batches``).

        Why one transaction: the relay sends a subscriber its events several to a message, and
        one commit (one round trip per statement) for the lot instead of one per event is most of
        what the subscriber saves. Envelopes are applied in aggregate order (type, id, version),
        not in the order received: two batches applied at once by two workers then lock the rows
        they share in the same order and never deadlock. Versions, not arrival order, decide what
        is newest, so the order is free."""
        order = sorted(range(len(envelopes)), key=lambda i: _lock_order(envelopes[i]))
        outcomes: dict[int, Outcome] = {}
        with sessions.begin() as session:
            for i in order:
                outcomes[i] = self.apply_in(session, envelopes[i])
        return [outcomes[i] for i in range(len(envelopes))]

    def apply_in(self, session: Session, envelope: Any) -> Outcome:
        """Apply one outbox event inside the caller's transaction (which commits or rolls back):
        ``duplicate`` when its id was seen, ``stale`` when the stored row is as new or newer
        (still recorded as processed), else ``applied``."""
        try:
            event = EventEnvelope.model_validate(envelope)
        except ValidationError as exc:
            raise SyncInputError(f"invalid envelope: {exc}") from None
        (state,) = self.parse(event.aggregate_type, [event.payload])
        version = getattr(state, "version", None)
        if version != event.version:
            raise SyncInputError(
                f"envelope version {event.version} differs from payload version {version}"
            )
        table = self.processed
        now = utcnow()
        occurred_at = as_utc(event.occurred_at)
        claim = (
            dialect_insert(session, table)
            .values(
                event_id=event.event_id,
                aggregate_type=event.aggregate_type,
                aggregate_id=event.aggregate_id,
                version=event.version,
                outcome="stale",
                occurred_at=occurred_at,
                applied_at=now,
                lag_s=(now - occurred_at).total_seconds(),
            )
            .on_conflict_do_nothing(index_elements=["event_id"])
            .returning(table.c.event_id)
        )
        if session.scalar(claim) is None:
            return "duplicate"
        if not self.write(session, event.aggregate_type, state):
            return "stale"
        session.execute(
            table.update().where(table.c.event_id == event.event_id).values(outcome="applied")
        )
        return "applied"


def _lock_order(envelope: Any) -> tuple[str, str, int]:
    """Where an envelope sorts in a batch; anything malformed sorts first (and fails there)."""
    if not isinstance(envelope, dict):
        return ("", "", 0)
    version = envelope.get("version")
    return (
        str(envelope.get("aggregate_type", "")),
        str(envelope.get("aggregate_id", "")),
        version if isinstance(version, int) else 0,
    )


def event_stats(
    session: Session, processed: type[ProcessedEventColumns], dead: type[DeadLetterColumns]
) -> dict[str, Any]:
    """The event half of a service's ``GET /internal/sync/stats`` (``sync.stats.SyncStats``):
    events processed, applied, skipped as stale, the last one's lag, dead letters waiting."""
    by_outcome = dict(
        session.execute(select(processed.outcome, func.count()).group_by(processed.outcome)).all()
    )
    last_lag = session.scalar(
        select(processed.lag_s).order_by(processed.applied_at.desc()).limit(1)
    )
    return {
        "events_processed": sum(by_outcome.values()),
        "events_applied": by_outcome.get("applied", 0),
        "events_skipped": by_outcome.get("stale", 0),
        "last_lag_s": last_lag,
        "dead_letters": dead_letter_count(session, dead),
    }


__all__ = [
    "EventApplier",
    "Outcome",
    "ProcessedEventColumns",
    "SyncInputError",
    "dialect_insert",
    "event_stats",
    "processed_events_indexes",
]
