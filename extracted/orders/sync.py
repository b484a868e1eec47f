"""What sync delivers to the orders service, applied by the owner: the monolith's order events
(dedup by event id + compare-and-set on ``version``) and backfill pages (compare-and-set on the
job's checkpoint + upsert by version; on PostgreSQL COPY into staging tables and one merge,
``extracted.chassis.sync.aggregate_pages``).
The Celery glue is ``sync/orders_worker.py``; the protocols are the chassis'
(``extracted.chassis.sync.subscriber``, ``extracted.chassis.sync.aggregate_pages``).

``apply_order_states`` upserts ``contracts.events.OrderState`` rows by version, lines included,
inside the caller's transaction (the orders counterpart of
``extracted.payments.backfill.apply_payment_states``). Concurrent appliers never collide on the
primary key: a missing order is created with ``INSERT ... ON CONFLICT DO NOTHING``; an existing
one is replaced only by ``UPDATE ... WHERE version < new``, which locks the row it compares.
Orders written this way keep their ids and timestamps, have no saga (the monolith ran the
checkout), and record nothing in this service's own outbox, so applying never emits an event.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import Table, delete, insert
from sqlalchemy.orm import Session, sessionmaker

from contracts.events import OrderState
from extracted.chassis.sync.aggregate_pages import AggregatePages
from extracted.chassis.sync.backfill_checkpoints import BatchResult, Checkpoint, CheckpointStore
from extracted.chassis.sync.bulk_merge import AggregateMerge, Children
from extracted.chassis.sync.dead_letters import SubscriberDeadLetters
from extracted.chassis.sync.subscriber import EventApplier, Outcome, SyncInputError, dialect_insert
from extracted.orders.models import BackfillCheckpoint, DeadLetter, Order, OrderLine, ProcessedEvent
from extracted.orders.wiring import default_sessions
from protocol.copy_text import ORDER_COPY_COLUMNS, ORDER_LINE_COPY_COLUMNS

AGGREGATE_TYPES = ("order",)

_orders: Table = Order.__table__  # type: ignore[assignment]
_lines: Table = OrderLine.__table__  # type: ignore[assignment]
_processed: Table = ProcessedEvent.__table__  # type: ignore[assignment]
_STATES = TypeAdapter(list[OrderState])


def _order_row(state: OrderState) -> dict[str, Any]:
    return {
        "id": state.id,
        "customer_id": state.customer_id,
        "status": state.status,
        "cancel_reason": state.cancel_reason,
        "total": Decimal(state.total),
        "payment_id": state.payment_id,
        "reservation_id": state.reservation_id,
        "version": state.version,
        "created_at": state.created_at,
        "updated_at": state.updated_at,
    }


def _line_rows(state: OrderState) -> list[dict[str, Any]]:
    return [
        {
            "order_id": state.id,
            "sku": line.sku,
            "quantity": line.quantity,
            "unit_price": Decimal(line.unit_price),
            "line_total": Decimal(line.line_total),
        }
        for line in sorted(state.lines, key=lambda line: line.sku)
    ]


def _write_states(session: Session, states: Iterable[OrderState]) -> int:
    newest: dict[Any, OrderState] = {}
    for state in states:
        if state.id not in newest or state.version > newest[state.id].version:
            newest[state.id] = state
    if not newest:
        return 0
    ordered = [state for _, state in sorted(newest.items())]
    create = (
        dialect_insert(session, _orders)
        .on_conflict_do_nothing(index_elements=["id"])
        .returning(_orders.c.id)
    )
    written = set(session.scalars(create, [_order_row(s) for s in ordered]).all())
    for state in ordered:
        if state.id in written:
            continue
        row = _order_row(state)
        del row["id"]
        replaced = session.scalar(
            _orders.update()
            .where(_orders.c.id == state.id, _orders.c.version < state.version)
            .values(**row)
            .returning(_orders.c.id)
        )
        if replaced is not None:
            written.add(replaced)
            session.execute(delete(_lines).where(_lines.c.order_id == state.id))
    lines = [line for state in ordered if state.id in written for line in _line_rows(state)]
    if lines:
        session.execute(insert(_lines), lines)
    return len(written)


def apply_order_states(session: Session, rows: Iterable[dict[str, Any]]) -> int:
    """Upsert ``rows`` by version; returns how many replaced (or created) an order here. A row
    that is not a valid ``OrderState`` raises ``pydantic.ValidationError`` (nothing of the batch
    should then be committed: the caller's transaction rolls back)."""
    return _write_states(session, _STATES.validate_python(list(rows)))


def _write(session: Session, aggregate_type: str, state: OrderState) -> bool:
    return _write_states(session, [state]) > 0


_EVENTS: EventApplier[OrderState] = EventApplier(
    processed=_processed, states={"order": OrderState}, write=_write
)


def apply_event(
    envelope: dict[str, Any], *, sessions: sessionmaker[Session] | None = None
) -> Outcome:
    """Apply one order event in one transaction: ``duplicate`` when its id was seen, ``stale``
    when the stored order is as new or newer (still recorded as processed), else ``applied``.
    ``SyncInputError`` when it does not fit the contract (nothing applied)."""
    return _EVENTS.apply(envelope, sessions or default_sessions())


def apply_event_in(session: Session, envelope: Any) -> Outcome:
    """``apply_event`` inside the caller's transaction (which commits or rolls back)."""
    return _EVENTS.apply_in(session, envelope)


def apply_events(
    envelopes: Sequence[Any], *, sessions: sessionmaker[Session] | None = None
) -> list[Outcome]:
    """Apply several order events in one transaction, each exactly as ``apply_event``
    does; all or nothing (``extracted.chassis.sync.subscriber.EventApplier.apply_many``)."""
    return _EVENTS.apply_many(envelopes, sessions or default_sessions())


#: The backfill's checkpoints (``extracted.chassis.sync.backfill_checkpoints``) on this
#: service's table.
CHECKPOINTS = CheckpointStore(BackfillCheckpoint, default_sessions)
open_backfill_ranges = CHECKPOINTS.open_ranges
backfill_checkpoint = CHECKPOINTS.checkpoint

#: The backfill of the monolith's orders (``extracted.chassis.sync.aggregate_pages``): one keyset
#: page (COPY text, or state dicts), applied if it is its job's next one, in one transaction with
#: the job's checkpoint; on PostgreSQL ``COPY``ed into staging tables and merged in one statement,
#: the lines of the orders written replaced by the page's; a page that does not fit the contract
#: or that the database refuses raises ``SyncInputError``, nothing of it applied.
BACKFILL: AggregatePages[OrderState] = AggregatePages(
    checkpoints=CHECKPOINTS,
    events=_EVENTS,
    merge=AggregateMerge(
        "orders",
        ORDER_COPY_COLUMNS,
        "id",
        Children(
            "order_lines",
            ORDER_LINE_COPY_COLUMNS,
            key=("order_id", "sku"),
            parent="order_id",
            field="lines",
        ),
    ),
    plain=_write_states,
    what="orders",
)
apply_backfill_batch = BACKFILL.apply_batch
apply_backfill_copy = BACKFILL.apply_copy


#: Events this subscriber refused for a reason retrying cannot fix, parked in its own table
#: (``extracted.chassis.sync.dead_letters``): the worker parks them, the internal API lists and
#: replays them.
DEAD_LETTERS: SubscriberDeadLetters[DeadLetter] = SubscriberDeadLetters(
    DeadLetter, _EVENTS.apply, default_sessions
)
park_event = DEAD_LETTERS.park_event


__all__ = [
    "AGGREGATE_TYPES",
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
    "apply_order_states",
    "backfill_checkpoint",
    "open_backfill_ranges",
    "park_event",
]
