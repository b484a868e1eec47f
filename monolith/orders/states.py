"""Order rows -> the contract's ``OrderState`` payload (``contracts.events``), as a JSON dict.

One translation at the edge, used by the outbox events the services record, by the seeding and by
the backfill reader, so an event and a backfilled row of the same version are the same dict.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from contracts.events import OrderLine as OrderLineState
from contracts.events import OrderState
from monolith.money import money
from monolith.orders.models import Order, OrderLine


def order_state(order: Order, lines: Iterable[OrderLine] | None = None) -> dict[str, Any]:
    """The order's state as a JSON dict (``order_state_model`` dumped)."""
    return order_state_model(order, lines).model_dump(mode="json")


def order_state_model(order: Order, lines: Iterable[OrderLine] | None = None) -> OrderState:
    """``lines`` in sku order, by default the order's stored lines (prefetch them when reading
    many); bulk writers pass the lines they are about to insert."""
    return OrderState(
        id=order.id,
        customer_id=order.customer_id,
        status=order.status,  # type: ignore[arg-type]
        cancel_reason=order.cancel_reason,
        lines=[
            OrderLineState(
                sku=line.sku,
                quantity=line.quantity,
                unit_price=money(line.unit_price),
                line_total=money(line.line_total),
            )
            for line in (order.lines.all() if lines is None else lines)
        ],
        total=money(order.total),
        payment_id=order.payment_id,
        reservation_id=order.reservation_id,
        version=order.version,
        created_at=order.created_at,
        updated_at=order.updated_at,
    )
