"""Factories for payment and order states and their envelopes as a service's relay sends them
(reverse sync): contract models dumped to JSON, unique ids per call."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from contracts import events
from contracts.events import EventEnvelope, OrderLine, OrderState, PaymentState, Refund
from tests.support.random_refs import random_sku

T0 = datetime(2026, 12, 1, 9, 30, 0, 250000, tzinfo=UTC)


def payment_state(
    *,
    payment_id: str | None = None,
    version: int = 1,
    amount: str = "50.00",
    refunds: tuple[str, ...] = (),
    order_id: str | None = None,
) -> dict[str, Any]:
    """A captured payment (``refunded`` once ``refunds`` add up to its amount)."""
    refunded = sum((float(r) for r in refunds), 0.0)
    return PaymentState(
        id=uuid.UUID(payment_id) if payment_id else uuid.uuid4(),
        customer_id=uuid.uuid4(),
        order_id=uuid.UUID(order_id) if order_id else None,
        amount=amount,
        status="refunded" if refunds and refunded == float(amount) else "captured",
        captured_amount=amount,
        refunded_amount=f"{refunded:.2f}",
        decline_reason=None,
        gateway_reference=f"gw_{uuid.uuid4().hex[:24]}",
        refunds=[
            Refund(id=uuid.uuid4(), amount=r, created_at=T0 + timedelta(seconds=i + 1))
            for i, r in enumerate(refunds)
        ],
        version=version,
        created_at=T0,
        updated_at=T0 + timedelta(seconds=version),
    ).model_dump(mode="json")


def order_state(
    *,
    order_id: str | None = None,
    version: int = 1,
    status: str = "confirmed",
    lines: tuple[tuple[str, int], ...] | None = None,
    payment_id: str | None = None,
    reservation_id: str | None = None,
) -> dict[str, Any]:
    """An order of ``lines`` (sku, quantity) at 2.50 each; a cancelled one says why."""
    wanted = lines if lines is not None else ((random_sku(), 2),)
    order_lines = [
        OrderLine(sku=sku, quantity=q, unit_price="2.50", line_total=f"{2.5 * q:.2f}")
        for sku, q in sorted(wanted)
    ]
    return OrderState(
        id=uuid.UUID(order_id) if order_id else uuid.uuid4(),
        customer_id=uuid.uuid4(),
        status=status,  # type: ignore[arg-type]
        cancel_reason="cancelled_by_customer" if status == "cancelled" else None,
        lines=order_lines,
        total=f"{sum(2.5 * q for _, q in wanted):.2f}",
        payment_id=uuid.UUID(payment_id) if payment_id else uuid.uuid4(),
        reservation_id=uuid.UUID(reservation_id) if reservation_id else uuid.uuid4(),
        version=version,
        created_at=T0,
        updated_at=T0 + timedelta(seconds=version),
    ).model_dump(mode="json")


_EVENT_TYPES = {"payment": events.PAYMENT_CAPTURED, "order": events.ORDER_PLACED}


def from_service(payload: dict[str, Any], aggregate_type: str, *, origin: str) -> dict[str, Any]:
    """``payload`` as the ``origin`` service's relay sends it (a new event id)."""
    return EventEnvelope(
        event_id=uuid.uuid4(),
        seq=payload["version"],
        aggregate_type=aggregate_type,  # type: ignore[arg-type]
        aggregate_id=str(payload["id"]),
        event_type=_EVENT_TYPES[aggregate_type],
        version=payload["version"],
        occurred_at=datetime.now(UTC),
        origin=origin,  # type: ignore[arg-type]
        payload=payload,
    ).model_dump(mode="json")
