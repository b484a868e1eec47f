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

A batch costs a few statements, not a few per event (``apply_many``): one multi-row claim, one
multi-row write per aggregate type (``write_many``, where the service has one) and one outcome
update: an event's cost to the worker is mostly the statements built, sent and answered for it,
so a batch shares them.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import cache
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError
from sqlalchemy import Index, Integer, String, Table, Uuid, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from contracts.events import EventEnvelope
from extracted.chassis.db_types import UTCDateTime
from extracted.chassis.sync.dead_letters import DeadLetterColumns, dead_letter_count
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
    return _insert_for(session.get_bind().dialect.name, table)


def _insert_for(dialect: str, table: Table) -> Any:
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"no upsert for dialect {dialect!r}")


#: Writes several states of one aggregate type, at most one per aggregate, each only if newer
#: than the stored row (or missing); says for each state whether it was written.
WriteMany = Callable[[Session, str, Sequence[S]], Sequence[bool]]


class EventApplier(Generic[S]):
    """How one service applies events: its ``processed_events`` table, the aggregate types it
    owns with the payload model of each, and ``write(session, aggregate_type, state)``, which
    writes the state if it is newer than the stored row (or missing) and says whether it did.

    ``write_many`` (optional) does the same for several states at once (one statement where
    ``write`` takes one per state); a batch then writes each aggregate type in one go. Without
    it, a batch writes state by state with ``write``."""

    def __init__(
        self,
        *,
        processed: Table,
        states: dict[str, type[S]],
        write: Callable[[Session, str, S], bool],
        write_many: WriteMany[S] | None = None,
    ) -> None:
        self.processed = processed
        self.states = states
        self.write = write
        self.write_many = write_many
        # Built once: a TypeAdapter costs more to build than to validate one payload with.
        self._adapters = {
            aggregate_type: TypeAdapter(list[model])  # type: ignore[valid-type]
            for aggregate_type, model in states.items()
        }

    def parse(self, aggregate_type: str, rows: list[dict[str, Any]]) -> list[S]:
        """``rows`` as the aggregate's state model; ``SyncInputError`` when they do not fit."""
        adapter = self._adapters.get(aggregate_type)
        if adapter is None:
            raise SyncInputError(
                f"unknown aggregate_type {aggregate_type!r} (expected one of {tuple(self.states)})"
            )
        try:
            parsed: list[S] = adapter.validate_python(rows)
        except ValidationError as exc:
            raise SyncInputError(f"invalid {aggregate_type} rows: {exc}") from None
        return parsed

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
        is newest, so the order is free.

        The statements, in that order: every envelope is validated first (nothing is sent for a
        batch that does not fit the contract); the event ids are claimed in one multi-row
        ``INSERT ... ON CONFLICT DO NOTHING RETURNING`` (ids already processed, and an id
        repeated in the batch after its first copy, are ``duplicate``); the claimed states are
        written by version (``_write_claimed``); the written ones are marked ``applied`` in one
        ``UPDATE``. Locks are taken claims first, then aggregates, each in aggregate order, so
        two batches still never wait on each other in a cycle."""
        checked = [self._checked(envelope) for envelope in envelopes]
        order = sorted(range(len(checked)), key=lambda i: _lock_order_of(checked[i][0]))
        outcomes: list[Outcome] = ["duplicate"] * len(checked)
        first: dict[uuid.UUID, int] = {}
        for i in order:
            first.setdefault(checked[i][0].event_id, i)
        with sessions.begin() as session:
            now = utcnow()
            rows = [self._claim_row(checked[i][0], now) for i in first.values()]
            claimed_ids = set(session.scalars(_claim_statement(session, self.processed), rows))
            claimed = [i for i in first.values() if checked[i][0].event_id in claimed_ids]
            written = self._write_claimed(session, [checked[i] for i in claimed])
            applied = [i for i, was_written in zip(claimed, written, strict=True) if was_written]
            for i in claimed:
                outcomes[i] = "stale"
            for i in applied:
                outcomes[i] = "applied"
            if applied:
                table = self.processed
                session.execute(
                    table.update()
                    .where(table.c.event_id.in_([checked[i][0].event_id for i in applied]))
                    .values(outcome="applied")
                )
        return outcomes

    def _write_claimed(self, session: Session, events: list[tuple[EventEnvelope, S]]) -> list[bool]:
        """Write the claimed events' states (in aggregate order) exactly as one by one would:
        whether each was written. With ``write_many``, in rounds: the first claimed event of
        every aggregate, per aggregate type in one call, then the second of those that have
        one, and so on; each round compares versions against what the round before wrote, so
        two versions of one row in a batch are both applied (oldest first) as they would be
        alone, and one statement never names a row twice."""
        if self.write_many is None:
            return [self.write(session, event.aggregate_type, state) for event, state in events]
        written = [False] * len(events)
        rounds: list[dict[str, list[int]]] = []
        seen: dict[tuple[str, str], int] = {}
        for j, (event, _) in enumerate(events):
            key = (event.aggregate_type, event.aggregate_id)
            depth = seen.get(key, 0)
            seen[key] = depth + 1
            if depth == len(rounds):
                rounds.append({})
            rounds[depth].setdefault(event.aggregate_type, []).append(j)
        for by_type in rounds:
            for aggregate_type, members in by_type.items():
                states = [events[j][1] for j in members]
                for j, was_written in zip(
                    members, self.write_many(session, aggregate_type, states), strict=True
                ):
                    written[j] = was_written
        return written

    def _checked(self, envelope: Any) -> tuple[EventEnvelope, S]:
        """The envelope and its state, validated; ``SyncInputError`` when they do not fit."""
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
        return event, state

    @staticmethod
    def _claim_row(event: EventEnvelope, now: datetime) -> dict[str, Any]:
        """The ``processed_events`` row that claims ``event`` (``stale`` until written)."""
        occurred_at = as_utc(event.occurred_at)
        return {
            "event_id": event.event_id,
            "aggregate_type": event.aggregate_type,
            "aggregate_id": event.aggregate_id,
            "version": event.version,
            "outcome": "stale",
            "occurred_at": occurred_at,
            "applied_at": now,
            "lag_s": (now - occurred_at).total_seconds(),
        }

    def apply_in(self, session: Session, envelope: Any) -> Outcome:
        """Apply one outbox event inside the caller's transaction (which commits or rolls back):
        ``duplicate`` when its id was seen, ``stale`` when the stored row is as new or newer
        (still recorded as processed), else ``applied``."""
        event, state = self._checked(envelope)
        table = self.processed
        claim = session.scalar(_claim_statement(session, table), self._claim_row(event, utcnow()))
        if claim is None:
            return "duplicate"
        if not self.write(session, event.aggregate_type, state):
            return "stale"
        session.execute(
            table.update().where(table.c.event_id == event.event_id).values(outcome="applied")
        )
        return "applied"


def _claim_statement(session: Session, table: Table) -> Any:
    """``INSERT INTO <processed> ... ON CONFLICT (event_id) DO NOTHING RETURNING event_id``:
    executed with one row (``apply_in``) or many (``apply_many``: SQLAlchemy sends them as one
    multi-row statement), the ids it inserted, i.e. claimed."""
    return _claim_statement_for(session.get_bind().dialect.name, table)


@cache
def _claim_statement_for(dialect: str, table: Table) -> Any:
    return (
        _insert_for(dialect, table)
        .on_conflict_do_nothing(index_elements=["event_id"])
        .returning(table.c.event_id)
    )


def _lock_order_of(event: EventEnvelope) -> tuple[str, str, int, str]:
    """Where a validated event sorts in a batch: aggregate order, then event id (so two
    batches holding the same events claim them in the same order)."""
    return (event.aggregate_type, event.aggregate_id, event.version, str(event.event_id))


def event_stats(
    session: Session, processed: type[ProcessedEventColumns], dead: type[DeadLetterColumns]
) -> dict[str, Any]:
    """The event half of a service's ``GET /internal/sync/stats``
    (``sync.control.stats.SyncStats``): events processed, applied, skipped as stale, the last
    one's lag, dead letters waiting."""
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
