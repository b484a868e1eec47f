"""Order rows -> the contract's ``OrderState`` (events) and the API's order body, and the
service's own outbox (origin "orders"), written in the same transaction as the order.

While the service is the source (direction ``reverse``), the service relay (``python -m
sync.service_relay orders``) sends these events to the monolith; written while it is not, they
are recorded ``skipped`` (born published, never sent). ``sync.apply_event`` never records here,
so nothing loops."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from contracts.events import OrderLine as OrderLineState
from contracts.events import OrderState
from extracted.chassis.timefmt import format_timestamp
from extracted.orders.models import Order, OutboxEvent
from extracted.orders.wiring import WRITES

ORIGIN = "orders"
#: The channel the outbox trigger notifies at each commit (alembic 0005_reverse_sync).
NOTIFY_CHANNEL = "orders_outbox"


def order_state(order: Order) -> OrderState:
    return OrderState(
        id=order.id,
        customer_id=order.customer_id,
        status=order.status,  # type: ignore[arg-type]  # the column holds the Literal's values
        cancel_reason=order.cancel_reason,
        lines=[
            OrderLineState(
                sku=line.sku,
                quantity=line.quantity,
                unit_price=f"{line.unit_price:.2f}",
                line_total=f"{line.line_total:.2f}",
            )
            for line in order.lines
        ],
        total=f"{order.total:.2f}",
        payment_id=order.payment_id,
        reservation_id=order.reservation_id,
        version=order.version,
        created_at=order.created_at,
        updated_at=order.updated_at,
    )


def order_body(order: Order) -> dict[str, Any]:
    """The contract's order object, fields in the contract's order."""
    return {
        "id": str(order.id),
        "customer_id": str(order.customer_id),
        "status": order.status,
        "cancel_reason": order.cancel_reason,
        "lines": [
            {
                "sku": line.sku,
                "quantity": line.quantity,
                "unit_price": f"{line.unit_price:.2f}",
                "line_total": f"{line.line_total:.2f}",
            }
            for line in sorted(order.lines, key=lambda line: line.sku.encode())
        ],
        "total": f"{order.total:.2f}",
        "payment_id": None if order.payment_id is None else str(order.payment_id),
        "reservation_id": None if order.reservation_id is None else str(order.reservation_id),
        "version": order.version,
        "created_at": format_timestamp(order.created_at),
        "updated_at": format_timestamp(order.updated_at),
    }


def record_order(session: Session, order: Order, event_type: str, at: datetime) -> None:
    session.add(
        OutboxEvent(
            event_id=uuid.uuid4(),
            aggregate_type="order",
            aggregate_id=str(order.id),
            event_type=event_type,
            version=order.version,
            occurred_at=at,
            origin=ORIGIN,
            payload=order_state(order).model_dump(mode="json"),
            **WRITES.delivery(session, at),
        )
    )
