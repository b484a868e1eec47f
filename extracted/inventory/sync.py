"""What sync delivers, applied by the owner: events (dedup + compare-and-set on ``version``) and
backfill batches (compare-and-set on the job's checkpoint + bulk upsert). Celery glue lives in
``sync/`` and calls these.

Both are safe under concurrent workers on PostgreSQL: the dedup row is claimed with
``INSERT ... ON CONFLICT DO NOTHING`` (a second worker with the same event id waits on the first's
uncommitted row and then sees the conflict), and aggregates are written with
``INSERT ... ON CONFLICT DO UPDATE ... WHERE excluded.version > table.version``, which locks the
row it compares, so there is no read-then-write race; a backfill batch locks its job's checkpoint
row before comparing it (``extracted.chassis.sync.backfill_checkpoints``). Nothing here records an
own-outbox event.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import Table, delete, insert
from sqlalchemy.orm import Session, sessionmaker

from contracts.events import ProductState, ReservationState
from extracted.chassis.sync.aggregate_pages import AggregatePages
from extracted.chassis.sync.backfill_checkpoints import (
    BatchResult,
    Checkpoint,
    CheckpointStore,
    range_job,
)
from extracted.chassis.sync.bulk_merge import AggregateMerge
from extracted.chassis.sync.dead_letters import SubscriberDeadLetters
from extracted.chassis.sync.subscriber import EventApplier, Outcome, SyncInputError
from extracted.chassis.sync.subscriber import dialect_insert as _insert
from extracted.chassis.timefmt import as_utc
from extracted.inventory.models import (
    BackfillCheckpoint,
    DeadLetter,
    ProcessedEvent,
    Product,
    Reservation,
    ReservationLine,
)
from extracted.inventory.wiring import default_sessions
from protocol.copy_text import PRODUCT_COPY_COLUMNS

AGGREGATE_TYPES = ("product", "reservation")

_products: Table = Product.__table__  # type: ignore[assignment]
_reservations: Table = Reservation.__table__  # type: ignore[assignment]
_lines: Table = ReservationLine.__table__  # type: ignore[assignment]
_processed: Table = ProcessedEvent.__table__  # type: ignore[assignment]

#: The checkpoint protocol of backfill pages (``extracted.chassis.sync.backfill_checkpoints``), on
#: this service's table.
CHECKPOINTS = CheckpointStore(BackfillCheckpoint, default_sessions)
open_backfill_ranges = CHECKPOINTS.open_ranges
backfill_checkpoint = CHECKPOINTS.checkpoint


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


#: The upsert of each (dialect, table, key, columns), built once per process rather than per
#: batch: building it (the ``excluded`` alias, the SET clause, the WHERE) is a real share of what
#: a batch costs the worker.
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


def apply_event(
    envelope: dict[str, Any], *, sessions: sessionmaker[Session] | None = None
) -> Outcome:
    """Apply one outbox event in one transaction (``extracted.chassis.sync.subscriber``):
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
    does; all or nothing (``extracted.chassis.sync.subscriber.EventApplier.apply_many``)."""
    return _EVENTS.apply_many(envelopes, sessions or default_sessions())


#: The backfill of products (``extracted.chassis.sync.aggregate_pages``): one keyset page of a
#: job, applied if it is the job's next one, in one transaction with its checkpoint
#: (``extracted.chassis.sync.backfill_checkpoints``: which page is in turn, ranges of a split job).
#: COPY text on PostgreSQL goes straight into an empty key range or through the version-guarded
#: merge; state dicts take the upsert the events use, and a row the database refuses raises its
#: ``IntegrityError``. Nothing of a refused page is applied.
PRODUCT_PAGES: AggregatePages[Any] = AggregatePages(
    checkpoints=CHECKPOINTS,
    events=_EVENTS,
    aggregate_type="product",
    merge=AggregateMerge("products", PRODUCT_COPY_COLUMNS, "sku"),
    plain=_write_products,
    write_states=_write_products,
    what="products",
)

#: Reservations travel as state dicts only, written by the upsert the events use.
RESERVATION_PAGES: AggregatePages[Any] = AggregatePages(
    checkpoints=CHECKPOINTS,
    events=_EVENTS,
    aggregate_type="reservation",
    key="id",
    plain=_write_reservations,
    write_states=_write_reservations,
    what="reservations",
)

_PAGES = {"product": PRODUCT_PAGES, "reservation": RESERVATION_PAGES}


def apply_backfill_batch(*, aggregate_type: str, **page: Any) -> BatchResult:
    """A page of state dicts, applied by its aggregate's pages (an unknown type is refused with
    ``SyncInputError`` by the products' parse, which names the types this service owns)."""
    pages = _PAGES.get(aggregate_type, PRODUCT_PAGES)
    return pages.apply_batch(aggregate_type=aggregate_type, **page)


apply_backfill_copy = PRODUCT_PAGES.apply_copy


#: Events this subscriber refused for a reason retrying cannot fix, parked in its own table
#: (``extracted.chassis.sync.dead_letters``): the worker parks them, the internal API lists and
#: replays them.
DEAD_LETTERS: SubscriberDeadLetters[DeadLetter] = SubscriberDeadLetters(
    DeadLetter, _EVENTS.apply, default_sessions
)
park_event = DEAD_LETTERS.park_event


__all__ = [
    "DEAD_LETTERS",
    "BatchResult",
    "Checkpoint",
    "Outcome",
    "SyncInputError",
    "apply_backfill_batch",
    "apply_backfill_copy",
    "apply_event",
    "apply_event_in",
    "apply_events",
    "backfill_checkpoint",
    "open_backfill_ranges",
    "park_event",
    "range_job",
]
