"""What sync delivers, applied by the owner: events (dedup + compare-and-set on ``version``) and
backfill batches (compare-and-set on the job's checkpoint + bulk upsert). Celery glue lives in
``sync/`` and calls these.

Both are safe under concurrent workers on PostgreSQL: the dedup row is claimed with
``INSERT ... ON CONFLICT DO NOTHING`` (a second worker with the same event id waits on the first's
uncommitted row and then sees the conflict), and aggregates are written with
``INSERT ... ON CONFLICT DO UPDATE ... WHERE excluded.version > table.version``, which locks the
row it compares, so there is no read-then-write race; a backfill batch locks its job's checkpoint
row before comparing it (see ``_locked_checkpoint``). Nothing here records an own-outbox event.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Table, delete, insert, select
from sqlalchemy.orm import Session, sessionmaker

from contracts.events import ProductState, ReservationState
from extracted.chassis.subscriber import EventApplier, Outcome, SyncInputError
from extracted.chassis.subscriber import dialect_insert as _insert
from extracted.chassis.timefmt import as_utc, utcnow
from extracted.inventory.database import default_sessions
from extracted.inventory.models import (
    BackfillCheckpoint,
    ProcessedEvent,
    Product,
    Reservation,
    ReservationLine,
)

AGGREGATE_TYPES = ("product", "reservation")

_products: Table = Product.__table__  # type: ignore[assignment]
_reservations: Table = Reservation.__table__  # type: ignore[assignment]
_lines: Table = ReservationLine.__table__  # type: ignore[assignment]
_processed: Table = ProcessedEvent.__table__  # type: ignore[assignment]
_checkpoints: Table = BackfillCheckpoint.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class Checkpoint:
    job: str
    last_key: str | None
    rows: int
    done: bool
    updated_at: datetime
    #: A range of a split job: the job's name, and where the range ends (None: the last range).
    parent: str | None = None
    end_key: str | None = None


def _product_row(state: ProductState) -> dict[str, Any]:
    return {
        "sku": state.sku,
        "name": state.name,
        "price": Decimal(state.price),
        "on_hand": state.on_hand,
        "reserved": state.reserved,
        "version": state.version,
        "created_at": as_utc(state.created_at),
        "updated_at": as_utc(state.updated_at),
    }


def _reservation_row(state: ReservationState) -> dict[str, Any]:
    return {
        "id": state.id,
        "order_id": state.order_id,
        "status": state.status,
        "version": state.version,
        "created_at": as_utc(state.created_at),
        "updated_at": as_utc(state.updated_at),
    }


def _merged_lines(state: ReservationState) -> list[dict[str, Any]]:
    merged: dict[str, int] = {}
    for line in state.lines:
        merged[line.sku] = merged.get(line.sku, 0) + line.quantity
    return [
        {"reservation_id": state.id, "sku": sku, "quantity": quantity}
        for sku, quantity in sorted(merged.items())
    ]


def _upsert_newer(
    session: Session, table: Table, key: str, rows: list[dict[str, Any]]
) -> list[Any]:
    """One bulk INSERT ... ON CONFLICT DO UPDATE ... WHERE newer; the keys actually written."""
    if not rows:
        return []
    shape = (session.get_bind().dialect.name, table.name, key, tuple(rows[0]))
    stmt = _UPSERTS.get(shape)
    if stmt is None:
        stmt = _UPSERTS[shape] = _upsert_statement(session, table, key, shape[3])
    return list(session.scalars(stmt, rows).all())


#: The upsert of each (dialect, table, key, columns), built once: building it (the ``excluded``
#: alias, the SET clause, the WHERE) cost a sixth of an event batch's CPU in the worker.
_UPSERTS: dict[tuple[str, str, str, tuple[str, ...]], Any] = {}


def _upsert_statement(session: Session, table: Table, key: str, columns: tuple[str, ...]) -> Any:
    stmt = _insert(session, table)
    updates = {col: stmt.excluded[col] for col in columns if col != key}
    return stmt.on_conflict_do_update(
        index_elements=[key],
        set_=updates,
        where=table.c.version < stmt.excluded.version,
    ).returning(table.c[key])


def _write_products(session: Session, states: Sequence[ProductState]) -> int:
    return len(_written_products(session, states))


def _written_products(session: Session, states: Sequence[ProductState]) -> set[Any]:
    return set(_upsert_newer(session, _products, "sku", [_product_row(s) for s in states]))


def _write_reservations(session: Session, states: Sequence[ReservationState]) -> int:
    return len(_written_reservations(session, states))


def _written_reservations(session: Session, states: Sequence[ReservationState]) -> set[Any]:
    written = set(
        _upsert_newer(session, _reservations, "id", [_reservation_row(s) for s in states])
    )
    if not written:
        return written
    session.execute(delete(_lines).where(_lines.c.reservation_id.in_(written)))
    lines = [line for s in states if s.id in written for line in _merged_lines(s)]
    if lines:
        session.execute(insert(_lines), lines)
    return written


def _newest_per_key(states: Sequence[Any], key: str) -> list[Any]:
    """A batch naming one row twice keeps its newest version (one statement may not touch a
    row twice on PostgreSQL)."""
    newest: dict[Any, Any] = {}
    for state in states:
        k = getattr(state, key)
        if k not in newest or state.version > newest[k].version:
            newest[k] = state
    return list(newest.values())


def _write_state(session: Session, aggregate_type: str, state: Any) -> bool:
    return _write_states(session, aggregate_type, [state]) == [True]


def _write_states(session: Session, aggregate_type: str, states: Sequence[Any]) -> list[bool]:
    """Several states of one type (one per row) in one upsert: whether each was written."""
    if aggregate_type == "product":
        products = _written_products(session, states)
        return [state.sku in products for state in states]
    reservations = _written_reservations(session, states)
    return [state.id in reservations for state in states]


_EVENTS: EventApplier[Any] = EventApplier(
    processed=_processed,
    states={"product": ProductState, "reservation": ReservationState},
    write=_write_state,
    write_many=_write_states,
)


def _parse_states(aggregate_type: str, rows: list[dict[str, Any]]) -> list[Any]:
    return _EVENTS.parse(aggregate_type, rows)


def apply_event(
    envelope: dict[str, Any], *, sessions: sessionmaker[Session] | None = None
) -> Outcome:
    """Apply one outbox event in one transaction (``extracted.chassis.subscriber``):
    ``duplicate`` when its id was seen, ``stale`` when the stored row is as new or newer (still
    recorded as processed), else ``applied``."""
    return _EVENTS.apply(envelope, sessions or default_sessions())


def apply_event_in(session: Session, envelope: Any) -> Outcome:
    """``apply_event`` inside the caller's transaction (which commits or rolls back)."""
    return _EVENTS.apply_in(session, envelope)


def apply_events(
    envelopes: Sequence[Any], *, sessions: sessionmaker[Session] | None = None
) -> list[Outcome]:
    """Apply several inventory events in one transaction, each exactly as ``apply_event``
    does; all or nothing (``extracted.chassis.subscriber.EventApplier.apply_many``)."""
    return _EVENTS.apply_many(envelopes, sessions or default_sessions())


@dataclass(frozen=True)
class BatchResult:
    """What one backfill batch did. ``taken`` is False when the job's checkpoint did not stand
    where the batch starts: then nothing changed, and ``checkpoint`` is where the job stands (a
    job that never ran reads as at the start, no rows). When taken, ``checkpoint`` is the moved
    one and ``written`` the rows actually written (newer or missing here)."""

    taken: bool
    written: int
    checkpoint: Checkpoint


class _NotTaken(Exception):
    """Leaves the batch's transaction (rolling it back) when the batch is out of turn."""

    def __init__(self, checkpoint: Checkpoint) -> None:
        super().__init__(checkpoint.job)
        self.checkpoint = checkpoint


def apply_backfill_batch(
    *,
    job: str,
    aggregate_type: str,
    rows: list[dict[str, Any]],
    after_key: str | None,
    last_key: str | None,
    done: bool,
    restart: bool = False,
    sessions: sessionmaker[Session] | None = None,
    on_taken: Callable[[], None] | None = None,
    end_key: str | None = None,
) -> BatchResult:
    """Apply one keyset page of a backfill job if it is the job's next one, in one transaction:
    compare-and-set on the job's checkpoint, upsert the rows where each is newer (or missing),
    move the checkpoint.

    The page is the next one when the checkpoint is not done and stands at ``after_key`` (the key
    the page was read after), or when it opens a restarted backfill (``restart`` with no
    ``after_key``: the checkpoint starts over). Any other page (a copy from an older run still in
    flight after a crash, a page after the end) changes nothing: so a resumed backfill redoes at
    most the page that was in flight, however many chains deliver pages concurrently.

    A range of a split job (``open_backfill_ranges``) is a job of its own; its pages name the
    range's end (``end_key``), and a page whose end differs (from an older split) is not in turn.
    """
    if not job:
        raise SyncInputError("job must be a non-empty string")
    states = _newest_per_key(
        _parse_states(aggregate_type, rows), "sku" if aggregate_type == "product" else "id"
    )

    def write(session: Session) -> int:
        if aggregate_type == "product":
            return _write_products(session, states)
        return _write_reservations(session, states)

    return apply_checkpointed(
        job=job,
        write=write,
        row_count=len(rows),
        after_key=after_key,
        last_key=last_key,
        done=done,
        restart=restart,
        sessions=sessions,
        on_taken=on_taken,
        end_key=end_key,
    )


def apply_checkpointed(
    *,
    job: str,
    write: Callable[[Session], int],
    row_count: int,
    after_key: str | None,
    last_key: str | None,
    done: bool,
    restart: bool,
    sessions: sessionmaker[Session] | None = None,
    on_taken: Callable[[], None] | None = None,
    end_key: str | None = None,
) -> BatchResult:
    """The checkpoint protocol of one backfill page (see ``apply_backfill_batch``) around
    ``write``, which writes the page's rows in the same transaction and returns how many it
    wrote. Shared by the JSON rows path and the bulk ``COPY`` path (``bulk_load``).

    ``on_taken`` runs once the page is known to be in turn, with the checkpoint still locked and
    before the rows are written: the worker asks for the next page there, so the monolith reads
    it while this one is written. The next page waits on the checkpoint's lock and finds it
    where it starts once this transaction commits; if this one rolls back instead, the next page
    finds the checkpoint behind it and is dropped, and this page's retry asks for it again."""
    sessions = sessions or default_sessions()
    try:
        with sessions.begin() as session:
            current = _locked_checkpoint(session, job)
            if current.end_key != end_key:
                raise _NotTaken(current)
            if restart and after_key is None:
                # A job restarted in one chain: the ranges of an older split go.
                session.execute(_checkpoints.delete().where(_checkpoints.c.parent == job))
                copied_before = 0
            elif not current.done and current.last_key == after_key:
                copied_before = current.rows
            else:
                raise _NotTaken(current)
            if on_taken is not None:
                on_taken()
            written = write(session)
            moved = _move_checkpoint(
                session, job, last_key=last_key, rows=copied_before + row_count, done=done
            )
    except _NotTaken as out_of_turn:
        return BatchResult(taken=False, written=0, checkpoint=out_of_turn.checkpoint)
    return BatchResult(taken=True, written=written, checkpoint=moved)


def _locked_checkpoint(session: Session, job: str) -> Checkpoint:
    """The job's checkpoint, created at the start if missing, locked until the transaction ends.
    A range's checkpoint is only ever created by ``open_backfill_ranges``: a page of a range
    that is gone (a newer split has fewer) reads as a range that ends nowhere, so it is dropped.

    PostgreSQL: ``SELECT ... FOR UPDATE`` makes a concurrent batch of the same job wait here and
    then read the checkpoint as this transaction left it (READ COMMITTED re-reads a locked row's
    newest version); a first batch racing another waits on the other's uncommitted INSERT first.
    SQLite renders no FOR UPDATE, and needs none: the chassis (extracted/chassis/db.py) opens
    every transaction with ``BEGIN IMMEDIATE``, so this transaction holds the database's only
    write lock from its first statement, and writers run one after another.
    """
    if "#" not in job:
        ensure = (
            _insert(session, _checkpoints)
            .values(job=job, last_key=None, rows=0, done=False, updated_at=utcnow())
            .on_conflict_do_nothing(index_elements=["job"])
        )
        session.execute(ensure)
    row = session.execute(
        select(_checkpoints).where(_checkpoints.c.job == job).with_for_update()
    ).one_or_none()
    if row is None:
        return Checkpoint(job, None, 0, True, utcnow(), parent=job.split("#")[0], end_key="")
    return _checkpoint(row)


def _move_checkpoint(
    session: Session, job: str, *, last_key: str | None, rows: int, done: bool
) -> Checkpoint:
    row = session.execute(
        _checkpoints.update()
        .where(_checkpoints.c.job == job)
        .values(last_key=last_key, rows=rows, done=done, updated_at=utcnow())
        .returning(*_checkpoints.c)
    ).one()
    return _checkpoint(row)


def _checkpoint(row: Any) -> Checkpoint:
    return Checkpoint(
        job=row.job,
        last_key=row.last_key,
        rows=row.rows,
        done=bool(row.done),
        updated_at=as_utc(row.updated_at),
        parent=row.parent,
        end_key=row.end_key,
    )


def range_job(job: str, number: int) -> str:
    """The checkpoint name of range ``number`` (1-based) of ``job``."""
    return f"{job}#{number}"


def open_backfill_ranges(
    *, job: str, ends: list[str], sessions: sessionmaker[Session] | None = None
) -> list[Checkpoint]:
    """Split ``job`` into ``len(ends) + 1`` key ranges, each with a checkpoint at its start, in
    one transaction: range 1 holds the keys up to ``ends[0]``, range i the keys after
    ``ends[i - 2]`` up to ``ends[i - 1]``, the last one the keys after ``ends[-1]``.

    Whatever the job had before (its own checkpoint, the ranges of an older split) is replaced:
    opening is how a split backfill starts or restarts. Pages still in flight from before find
    a checkpoint that does not stand where they start, or a different range end, and are
    dropped. The ranges' checkpoints are returned in key order."""
    if not job or "#" in job:
        raise SyncInputError(f"job must be a non-empty name without '#', got {job!r}")
    if any(not isinstance(end, str) or not end for end in ends):
        raise SyncInputError("range ends must be non-empty keys")
    if any(a >= b for a, b in itertools.pairwise(ends)):
        # Byte order, as the keys' "C" collation orders them (Python compares code points, which
        # for UTF-8 text is the same order).
        raise SyncInputError("range ends must be strictly increasing")
    sessions = sessions or default_sessions()
    now = utcnow()
    starts: list[str | None] = [None, *ends]
    stops: list[str | None] = [*ends, None]
    rows = [
        {
            "job": range_job(job, number),
            "last_key": start,
            "rows": 0,
            "done": False,
            "updated_at": now,
            "parent": job,
            "end_key": stop,
        }
        for number, (start, stop) in enumerate(zip(starts, stops, strict=True), start=1)
    ]
    with sessions.begin() as session:
        session.execute(
            _checkpoints.delete().where(
                (_checkpoints.c.job == job) | (_checkpoints.c.parent == job)
            )
        )
        session.execute(_checkpoints.insert(), rows)
    return [_checkpoint(SimpleNamespace(**row)) for row in rows]


def backfill_checkpoint(
    job: str, *, sessions: sessionmaker[Session] | None = None
) -> Checkpoint | None:
    """Where a backfill job stands, or None when it never ran."""
    sessions = sessions or default_sessions()
    with sessions() as session:
        row = session.execute(select(_checkpoints).where(_checkpoints.c.job == job)).one_or_none()
    return None if row is None else _checkpoint(row)


__all__ = [
    "BatchResult",
    "Checkpoint",
    "Outcome",
    "SyncInputError",
    "apply_backfill_batch",
    "apply_checkpointed",
    "apply_event",
    "apply_event_in",
    "apply_events",
    "backfill_checkpoint",
    "open_backfill_ranges",
    "range_job",
]
