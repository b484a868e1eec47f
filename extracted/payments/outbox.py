"""The service's own outbox: one event per payment write (origin "payments"), in the contract's
envelope fields and with the full ``PaymentState`` payload, exactly as the monolith records them.

Recorded in the same transaction as the write. While the service is the source (direction
``reverse``), the service relay (``python -m sync.service_relay payments``) sends them to the
monolith; written while it is not, they are recorded ``skipped`` (born published, never sent).
``sync.apply_event`` never records here, so nothing loops.
"""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from contracts.events import PaymentState
from contracts.events import Refund as RefundState
from extracted.payments.models import OutboxEvent, Payment
from extracted.payments.wiring import WRITES

ORIGIN = "payments"
#: The channel the outbox trigger notifies at each commit (alembic 0005_reverse_sync).
NOTIFY_CHANNEL = "payments_outbox"


def money(value: object) -> str:
    return f"{value:.2f}"


def payment_state(payment: Payment) -> PaymentState:
    return PaymentState(
        id=payment.id,
        customer_id=payment.customer_id,
        order_id=payment.order_id,
        amount=money(payment.amount),
        status=payment.status,  # type: ignore[arg-type]  # the column holds the Literal's values
        captured_amount=money(payment.captured_amount),
        refunded_amount=money(payment.refunded_amount),
        decline_reason=payment.decline_reason,
        gateway_reference=payment.gateway_reference,
        refunds=[
            RefundState(id=refund.id, amount=money(refund.amount), created_at=refund.created_at)
            for refund in payment.refunds
        ],
        version=payment.version,
        created_at=payment.created_at,
        updated_at=payment.updated_at,
    )


def record_payment(session: Session, payment: Payment, event_type: str) -> None:
    session.add(
        OutboxEvent(
            event_id=uuid.uuid4(),
            aggregate_type="payment",
            aggregate_id=str(payment.id),
            event_type=event_type,
            version=payment.version,
            occurred_at=payment.updated_at,
            origin=ORIGIN,
            payload=payment_state(payment).model_dump(mode="json"),
            **WRITES.delivery(session, payment.updated_at),
        )
    )
