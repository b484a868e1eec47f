"""Order states that reverse sync delivers (the orders service is the source), written into the
monolith's tables as they are, lines included (child rows of the order's aggregate):
compare-and-set on ``version`` (``reverse_sync.state_rows``) and **no outbox event**, so an event
applied on this side never travels back. Runs inside the caller's transaction
(``reverse_sync.inbox``).

``payment_id`` and ``reservation_id`` are ids, not foreign keys (``models.py``): an order may
arrive before its payment or reservation (each capability has its own relay), and is written
all the same; the other arrives through its own relay (docs/reverse-sync.md, "References between
capabilities")."""

from __future__ import annotations

from decimal import Decimal

from contracts.events import OrderState
from monolith.orders.models import Order, OrderLine
from monolith.reverse_sync.state_rows import Children, write_if_newer


def order_state_apply(state: OrderState) -> bool:
    """Write ``state`` (the order and its lines) when it is newer than the monolith's row (or
    the row is missing); whether it was written."""
    fields = {
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
    lines = [
        OrderLine(
            order_id=state.id,
            sku=line.sku,
            quantity=line.quantity,
            unit_price=Decimal(line.unit_price),
            line_total=Decimal(line.line_total),
        )
        for line in state.lines
    ]
    return write_if_newer(
        Order, state.id, state.version, fields, Children(OrderLine, "order_id", lines)
    )
