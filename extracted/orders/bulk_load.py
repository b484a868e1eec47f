"""The orders backfill's bulk path on PostgreSQL: a page of ``OrderState`` rows ``COPY``ed into
staging tables (orders and order lines) and merged in one statement
(``extracted.chassis.bulk_merge``): an order is written where it is newer than ours (or missing),
and only then are its lines replaced by the page's. Versions decide, so the backfill is safe while
the relay is live: an order an event already brought further is left alone, lines included, and an
event newer than the backfilled order still applies afterwards.

SQLite (embedded mode) takes the plain upsert, ``sync._write_states``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from sqlalchemy.orm import Session

from contracts.events import OrderState
from extracted.chassis.bulk_merge import AggregateMerge, Children

ORDER_COLUMNS: Final = (
    "id",
    "customer_id",
    "status",
    "cancel_reason",
    "total",
    "payment_id",
    "reservation_id",
    "version",
    "created_at",
    "updated_at",
)
LINE_COLUMNS: Final = ("order_id", "sku", "quantity", "unit_price", "line_total")

_MERGE: Final = AggregateMerge(
    "orders",
    ORDER_COLUMNS,
    "id",
    Children("order_lines", LINE_COLUMNS, key=("order_id", "sku"), parent="order_id"),
)


def _order_row(state: OrderState) -> tuple[Any, ...]:
    # Money travels as its text: PostgreSQL parses it (and refuses what is not a number).
    return (
        state.id,
        state.customer_id,
        state.status,
        state.cancel_reason,
        state.total,
        state.payment_id,
        state.reservation_id,
        state.version,
        state.created_at,
        state.updated_at,
    )


def copy_order_states(session: Session, states: Sequence[OrderState]) -> int:
    """Write ``states`` (one per order) by version, lines included; the orders written. A page
    PostgreSQL refuses (a sku twice in one order's lines, a constraint) raises
    ``SyncInputError`` (the caller's transaction rolls back)."""
    lines = (
        (state.id, line.sku, line.quantity, line.unit_price, line.line_total)
        for state in states
        for line in state.lines
    )
    return _MERGE.write(session, map(_order_row, states), lines)
