"""Writes of the payments, each inside the caller's transaction (``chassis.web.unit_of_work``).

The monolith's rules: every write locks the payment row it changes (``SELECT ... FOR UPDATE``),
bumps ``version`` by exactly 1 (1 on insert) and records one outbox event with the full new
state. A refusal raises before anything is written. Before anything, each takes the capability's
direction (``wiring.WRITES.guard_write``): refused while frozen (``CapabilityFrozen``), and
whether its event is sent back to the monolith (reverse sync).

The gateway is asked by ``payment_authorize`` before the row is written; it is the caller's
choice whether a transaction is already open then (the API opens none without an
``Idempotency-Key``, as the monolith, so no lock is held while a slow card answers).
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from card_gateway.fake import Approved, GatewayOutcome
from contracts import events
from extracted.chassis.timefmt import utcnow
from extracted.payments import outbox
from extracted.payments.errors import PaymentNotFound, PaymentNotInState, RefundExceedsCaptured
from extracted.payments.models import Payment, Refund
from extracted.payments.wiring import WRITES

logger = logging.getLogger(__name__)

AUTHORIZED, DECLINED, CAPTURED, VOIDED, REFUNDED = (
    "authorized",
    "declined",
    "captured",
    "voided",
    "refunded",
)
ZERO = Decimal("0.00")


def payment_store(
    session: Session,
    *,
    payment_id: uuid.UUID,
    customer_id: uuid.UUID,
    order_id: uuid.UUID | None,
    amount: Decimal,
    outcome: GatewayOutcome,
    capture: bool,
) -> Payment:
    """The gateway's ``outcome`` for ``amount`` as a new payment (version 1) with its event:
    ``authorized`` (``captured`` for the whole amount with ``capture``) or ``declined``."""
    WRITES.guard_write(session)
    now = utcnow()
    payment = Payment(
        id=payment_id,
        customer_id=customer_id,
        order_id=order_id,
        amount=amount,
        captured_amount=ZERO,
        refunded_amount=ZERO,
        decline_reason=None,
        gateway_reference=None,
        version=1,
        created_at=now,
        updated_at=now,
        refunds=[],
    )
    if isinstance(outcome, Approved):
        payment.gateway_reference = outcome.reference
        if capture:
            payment.status, payment.captured_amount = CAPTURED, amount
            event_type = events.PAYMENT_CAPTURED
        else:
            payment.status = AUTHORIZED
            event_type = events.PAYMENT_AUTHORIZED
    else:
        payment.status, payment.decline_reason = DECLINED, outcome.reason
        event_type = events.PAYMENT_DECLINED
    session.add(payment)
    session.flush()
    outbox.record_payment(session, payment, event_type)
    logger.info(
        "payment authorised",
        extra={"payment_id": str(payment.id), "status": payment.status, "amount": f"{amount}"},
    )
    return payment


def _lock(session: Session, payment_id: uuid.UUID) -> Payment:
    WRITES.guard_write(session)
    payment = session.scalars(
        select(Payment)
        .where(Payment.id == payment_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()
    if payment is None:
        raise PaymentNotFound(payment_id)
    return payment


def _next_version(session: Session, payment: Payment, now: datetime, event_type: str) -> None:
    payment.version += 1
    payment.updated_at = now
    session.flush()
    outbox.record_payment(session, payment, event_type)


def payment_capture(session: Session, *, payment_id: uuid.UUID) -> Payment:
    """``authorized`` -> ``captured`` for the full amount; ``PaymentNotInState`` otherwise."""
    payment = _lock(session, payment_id)
    if payment.status != AUTHORIZED:
        raise PaymentNotInState(payment.status, expected=AUTHORIZED)
    payment.status, payment.captured_amount = CAPTURED, payment.amount
    _next_version(session, payment, utcnow(), events.PAYMENT_CAPTURED)
    return payment


def payment_void(session: Session, *, payment_id: uuid.UUID) -> Payment:
    """``authorized`` -> ``voided``; ``PaymentNotInState`` otherwise."""
    payment = _lock(session, payment_id)
    if payment.status != AUTHORIZED:
        raise PaymentNotInState(payment.status, expected=AUTHORIZED)
    payment.status = VOIDED
    _next_version(session, payment, utcnow(), events.PAYMENT_VOIDED)
    return payment


def payment_refund(
    session: Session, *, payment_id: uuid.UUID, amount: Decimal | None = None
) -> Payment:
    """Give back ``amount`` of a ``captured`` payment (default: everything still refundable);
    ``refunded`` when nothing is left."""
    payment = _lock(session, payment_id)
    if payment.status != CAPTURED:
        raise PaymentNotInState(payment.status, expected=CAPTURED)
    refundable = payment.refundable_amount
    if amount is None:
        amount = refundable
    if amount > refundable:
        raise RefundExceedsCaptured(refundable)
    now = utcnow()
    payment.refunds.append(
        Refund(id=uuid.uuid4(), payment_id=payment.id, amount=amount, created_at=now)
    )
    payment.refunded_amount = payment.refunded_amount + amount
    if payment.refunded_amount == payment.captured_amount:
        payment.status = REFUNDED
    _next_version(session, payment, now, events.PAYMENT_REFUNDED)
    return payment
