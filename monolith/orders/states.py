"""Order rows -> the contract's ``OrderState`` payload (``contracts.events``), as a JSON dict.

One translation at the edge, used by the outbox events the services record, by the seeding and by
the backfill reader, so an event and a backfilled row of the same version are the same dict.
"""

from __future__ import annotations

from typing import Any

from contracts.events import OrderLine as OrderLineState
from contracts.events import OrderState
from monolith.money import money
from monolith.orders.models import Order


def order_state(order: Order) -> dict[str, Any]:
    """Needs the order's lines (prefetch them when reading many); lines by sku."""
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
            for line in order.lines.all()
        ],
        total=money(order.total),
        payment_id=order.payment_id,
        reservation_id=order.reservation_id,
        version=order.version,
        created_at=order.created_at,
        updated_at=order.updated_at,
    ).model_dump(mode="json")
