"""Writes of the payments.

Each service runs in one ``transaction.atomic()``, locks the payment row it changes with
``select_for_update()``, bumps ``version`` by exactly 1 on every write of the row (version 1 on
insert), and records one outbox event per row write in the same transaction, carrying the full
new state (refunds included: they are child rows of the payment's aggregate). A refusal raises
before anything is written: a refused write leaves no row and no event behind. Each first checks
that the monolith takes the payments' writes (``reverse_sync.direction.require_writable``: 503
while sync changes direction or once the payments service is the source), inside its
transaction, so a freeze waits for the writes in flight.

The gateway is asked before the transaction opens, so no row lock is held while it answers, and
a gateway failure (``GatewayError``) leaves nothing written. Capture, void and refund are
bookkeeping on the fake gateway and never fail there.

These functions do not know who is calling: the APIs scope the payment to the caller first
(``selectors.payment_get``), so another customer's payment is a 404 before any service runs.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

from contracts import events
from monolith.money import MAX_AMOUNT, cents, money
from monolith.outbox.services import outbox_record
from monolith.payments.errors import (
    InvalidAmount,
    InvalidCardToken,
    PaymentAlreadyExists,
    PaymentNotFound,
    PaymentNotInState,
    RefundAlreadyExists,
    RefundExceedsCaptured,
)
from monolith.payments.gateway import Approved, gateway_authorize, is_card_token
from monolith.payments.models import Payment, PaymentStatus, Refund
from monolith.payments.states import payment_state
from monolith.reverse_sync.direction import require_writable

logger = logging.getLogger(__name__)

ZERO = Decimal("0.00")


def _checked_amount(amount: Decimal, *, field: str = "amount") -> Decimal:
    """``amount`` as a two-place Decimal, or an ``InvalidAmount`` field error."""
    if not isinstance(amount, Decimal) or not amount.is_finite():
        raise InvalidAmount("A valid number is required.", field=field)
    if cents(amount) != amount:
        raise InvalidAmount("Ensure that there are no more than 2 decimal places.", field=field)
    if amount <= 0:
        raise InvalidAmount("Ensure this value is greater than 0.", field=field)
    if amount > MAX_AMOUNT:
        raise InvalidAmount(
            f"Ensure this value is less than or equal to {money(MAX_AMOUNT)}.", field=field
        )
    return cents(amount)


def _record(payment: Payment, event_type: str) -> None:
    outbox_record(
        aggregate_type="payment",
        aggregate_id=str(payment.id),
        event_type=event_type,
        version=payment.version,
        payload=payment_state(payment),
        occurred_at=payment.updated_at,
    )


def _lock(payment_id: uuid.UUID) -> Payment:
    """The payment, locked for its write (inside the write's transaction: the direction first)."""
    require_writable("payments")
    payment = Payment.objects.select_for_update().filter(id=payment_id).first()
    if payment is None:
        raise PaymentNotFound(payment_id)
    return payment


def _save(payment: Payment, now: datetime, fields: list[str], event_type: str) -> None:
    """Write the changed ``fields`` of a locked payment as its next version, with its event."""
    payment.version += 1
    payment.updated_at = now
    payment.save(update_fields=[*fields, "version", "updated_at"])
    _record(payment, event_type)


def payment_authorize(
    *,
    customer_id: uuid.UUID,
    amount: Decimal,
    card_token: str,
    order_id: uuid.UUID | None = None,
    payment_id: uuid.UUID | None = None,
    capture: bool = False,
) -> Payment:
    """Ask the gateway to hold ``amount`` and store the outcome as a new payment (version 1).

    Approved: ``authorized`` (or ``captured`` for the whole amount when ``capture``). Declined:
    the attempt is stored as ``declined`` with the gateway's ``decline_reason`` and returned, not
    raised. Raises ``gateway.GatewayError`` when the gateway fails (nothing is written),
    ``InvalidAmount`` / ``InvalidCardToken`` for bad input and ``PaymentAlreadyExists`` for a
    ``payment_id`` already taken (both before the gateway is asked).
    """
    amount = _checked_amount(amount)
    if not is_card_token(card_token):
        raise InvalidCardToken()
    if payment_id is None:
        payment_id = uuid.uuid4()
    elif Payment.objects.filter(id=payment_id).exists():
        raise PaymentAlreadyExists(payment_id)  # before the gateway charges anything
    with transaction.atomic():
        require_writable("payments")  # before the gateway too; the write below checks again

    outcome = gateway_authorize(payment_id=payment_id, amount=amount, card_token=card_token)

    now = timezone.now()
    payment = Payment(
        id=payment_id,
        customer_id=customer_id,
        order_id=order_id,
        amount=amount,
        captured_amount=ZERO,
        refunded_amount=ZERO,
        version=1,
        created_at=now,
        updated_at=now,
    )
    if isinstance(outcome, Approved):
        payment.gateway_reference = outcome.reference
        if capture:
            payment.status = PaymentStatus.CAPTURED
            payment.captured_amount = amount
            event_type = events.PAYMENT_CAPTURED
        else:
            payment.status = PaymentStatus.AUTHORIZED
            event_type = events.PAYMENT_AUTHORIZED
    else:
        payment.status = PaymentStatus.DECLINED
        payment.decline_reason = outcome.reason
        event_type = events.PAYMENT_DECLINED

    with transaction.atomic():
        require_writable("payments")
        try:
            # A savepoint: a concurrent insert of the same id fails here, not the whole block.
            with transaction.atomic():
                payment.save(force_insert=True)
        except IntegrityError:
            if Payment.objects.filter(id=payment_id).exists():
                raise PaymentAlreadyExists(payment_id) from None
            raise
        _record(payment, event_type)
    logger.info(
        "payment authorised",
        extra={"payment_id": str(payment.id), "status": payment.status, "amount": money(amount)},
    )
    return payment


def payment_capture(*, payment_id: uuid.UUID) -> Payment:
    """``authorized`` -> ``captured`` for the full amount; ``PaymentNotInState`` otherwise."""
    with transaction.atomic():
        payment = _lock(payment_id)
        if payment.status != PaymentStatus.AUTHORIZED:
            raise PaymentNotInState(payment.status, expected=PaymentStatus.AUTHORIZED)
        payment.status = PaymentStatus.CAPTURED
        payment.captured_amount = payment.amount
        _save(payment, timezone.now(), ["status", "captured_amount"], events.PAYMENT_CAPTURED)
    return payment


def payment_void(*, payment_id: uuid.UUID) -> Payment:
    """``authorized`` -> ``voided`` (the hold is let go); ``PaymentNotInState`` otherwise."""
    with transaction.atomic():
        payment = _lock(payment_id)
        if payment.status != PaymentStatus.AUTHORIZED:
            raise PaymentNotInState(payment.status, expected=PaymentStatus.AUTHORIZED)
        payment.status = PaymentStatus.VOIDED
        _save(payment, timezone.now(), ["status"], events.PAYMENT_VOIDED)
    return payment


def payment_refund(
    *, payment_id: uuid.UUID, amount: Decimal | None = None, refund_id: uuid.UUID | None = None
) -> Payment:
    """Give back ``amount`` of a ``captured`` payment (default: everything still refundable).

    The refund becomes a row of the payment's aggregate; ``refunded_amount`` grows by it and the
    payment becomes ``refunded`` when nothing is left. Refusals: ``PaymentNotInState`` unless
    captured, ``RefundExceedsCaptured`` above what is left, ``InvalidAmount``,
    ``RefundAlreadyExists`` for a ``refund_id`` already taken.
    """
    if amount is not None:
        amount = _checked_amount(amount)
    with transaction.atomic():
        payment = _lock(payment_id)
        if payment.status != PaymentStatus.CAPTURED:
            raise PaymentNotInState(payment.status, expected=PaymentStatus.CAPTURED)
        refundable = payment.refundable_amount
        if amount is None:
            amount = refundable
        if amount > refundable:
            raise RefundExceedsCaptured(refundable)
        refund_id = refund_id or uuid.uuid4()
        now = timezone.now()
        try:
            with transaction.atomic():
                Refund.objects.create(id=refund_id, payment=payment, amount=amount, created_at=now)
        except IntegrityError:
            if Refund.objects.filter(id=refund_id).exists():
                raise RefundAlreadyExists(refund_id) from None
            raise
        payment.refunded_amount = Decimal(payment.refunded_amount) + amount
        if payment.refunded_amount == payment.captured_amount:
            payment.status = PaymentStatus.REFUNDED
        _save(payment, now, ["status", "refunded_amount"], events.PAYMENT_REFUNDED)
    logger.info(
        "payment refunded",
        extra={"payment_id": str(payment_id), "amount": money(amount), "refund_id": str(refund_id)},
    )
    return payment
