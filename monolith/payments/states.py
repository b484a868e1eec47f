"""Payment rows -> the contract's state payload (``contracts.events.PaymentState``), as JSON dicts.

One translation at the edge, used by the outbox events the services record and by the backfill
reader, so an event and a backfilled row of the same version are the same dict.
"""

from __future__ import annotations

from typing import Any

from contracts.events import PaymentState
from contracts.events import Refund as RefundState
from monolith.money import money
from monolith.payments.models import Payment


def payment_state(payment: Payment) -> dict[str, Any]:
    """Needs the payment's refunds (prefetch them when reading many)."""
    return PaymentState(
        id=payment.id,
        customer_id=payment.customer_id,
        order_id=payment.order_id,
        amount=money(payment.amount),
        status=payment.status,  # type: ignore[arg-type]
        captured_amount=money(payment.captured_amount),
        refunded_amount=money(payment.refunded_amount),
        decline_reason=payment.decline_reason,
        gateway_reference=payment.gateway_reference,
        refunds=[
            RefundState(id=refund.id, amount=money(refund.amount), created_at=refund.created_at)
            for refund in payment.refunds.all()
        ],
        version=payment.version,
        created_at=payment.created_at,
        updated_at=payment.updated_at,
    ).model_dump(mode="json")
