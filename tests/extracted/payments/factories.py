"""Payment states as the monolith's events and backfill rows carry them (unique ids per call)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from contracts.events import PaymentState, Refund

T0 = datetime(2026, 11, 1, 12, 0, 0, 123456, tzinfo=UTC)


def refund_state(amount: str, *, minutes: int = 1) -> Refund:
    return Refund(id=uuid.uuid4(), amount=amount, created_at=T0 + timedelta(minutes=minutes))


def payment_state(
    *, customer_id: uuid.UUID, refunds: tuple[str, ...] = (), version: int = 1, **overrides: Any
) -> dict[str, Any]:
    """A captured payment of 50.00 with a refund of each of ``refunds`` (a minute apart)."""
    refunded = sum((Decimal(amount) for amount in refunds), Decimal("0.00"))
    state = PaymentState(
        id=uuid.uuid4(),
        customer_id=customer_id,
        order_id=overrides.pop("order_id", None),
        amount="50.00",
        status=overrides.pop("status", "captured"),
        captured_amount="50.00",
        refunded_amount=f"{refunded:.2f}",
        decline_reason=overrides.pop("decline_reason", None),
        gateway_reference=overrides.pop("gateway_reference", f"gw_{uuid.uuid4().hex[:24]}"),
        refunds=[refund_state(amount, minutes=i) for i, amount in enumerate(refunds, start=1)],
        version=version,
        created_at=T0,
        updated_at=T0 + timedelta(seconds=version),
    ).model_dump(mode="json")
    assert not overrides, f"unknown payment fields {overrides}"
    return state
