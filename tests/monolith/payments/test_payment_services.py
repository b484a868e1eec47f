"""The payment services on PostgreSQL: the state machine, the money rules and their events."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from django.db import transaction

from contracts import events
from monolith.outbox.models import OutboxEvent
from monolith.payments.errors import (
    InvalidAmount,
    InvalidCardToken,
    PaymentAlreadyExists,
    PaymentNotFound,
    PaymentNotInState,
    RefundAlreadyExists,
    RefundExceedsCaptured,
)
from monolith.payments.gateway import GatewayError, gateway_charges, gateway_reference
from monolith.payments.models import Payment, PaymentStatus, Refund
from monolith.payments.selectors import payment_get, payment_states_after
from monolith.payments.services import (
    payment_authorize,
    payment_capture,
    payment_refund,
    payment_void,
)
from monolith.payments.states import payment_state
from tests.monolith.factories import make_payment

pytestmark = pytest.mark.django_db


def _events(payment: Payment) -> list[tuple[str, int]]:
    rows = OutboxEvent.objects.filter(aggregate_type="payment", aggregate_id=str(payment.id))
    return [(e.event_type, e.version) for e in rows.order_by("seq")]


def _last_event(payment: Payment) -> OutboxEvent:
    return OutboxEvent.objects.filter(aggregate_id=str(payment.id)).order_by("-seq")[0]


def test_authorize_stores_an_authorized_payment_with_one_event_and_one_charge() -> None:
    customer_id, order_id, payment_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    payment = payment_authorize(
        customer_id=customer_id,
        amount=Decimal("12.50"),
        card_token="tok_visa",
        order_id=order_id,
        payment_id=payment_id,
    )
    stored = Payment.objects.get(id=payment_id)
    assert (stored.status, stored.amount, stored.captured_amount) == (
        PaymentStatus.AUTHORIZED,
        Decimal("12.50"),
        Decimal("0.00"),
    )
    assert (stored.customer_id, stored.order_id, stored.version) == (customer_id, order_id, 1)
    assert stored.gateway_reference == gateway_reference(payment_id)
    assert stored.decline_reason is None
    assert _events(payment) == [(events.PAYMENT_AUTHORIZED, 1)]
    assert _last_event(payment).payload == payment_state(
        payment_get(payment_id=payment_id, customer_id=None)
    )
    assert len(gateway_charges(payment_id=payment_id)) == 1


def test_authorize_with_capture_stores_a_captured_payment_in_one_write() -> None:
    payment = make_payment(amount="30.00", capture=True)
    assert (payment.status, payment.captured_amount, payment.version) == (
        PaymentStatus.CAPTURED,
        Decimal("30.00"),
        1,
    )
    assert _events(payment) == [(events.PAYMENT_CAPTURED, 1)]


def test_a_decline_is_stored_and_returned_not_raised() -> None:
    payment = make_payment(card_token="tok_decline_insufficient_funds")
    stored = Payment.objects.get(id=payment.id)
    assert (stored.status, stored.decline_reason, stored.gateway_reference) == (
        PaymentStatus.DECLINED,
        "insufficient_funds",
        None,
    )
    assert _events(payment) == [(events.PAYMENT_DECLINED, 1)]
    assert gateway_charges(payment_id=payment.id) == []


def test_a_gateway_error_raises_and_writes_nothing() -> None:
    payment_id = uuid.uuid4()
    events_before = OutboxEvent.objects.count()
    with pytest.raises(GatewayError):
        payment_authorize(
            customer_id=uuid.uuid4(),
            amount=Decimal("5.00"),
            card_token="tok_error",
            payment_id=payment_id,
        )
    assert not Payment.objects.filter(id=payment_id).exists()
    assert OutboxEvent.objects.count() == events_before


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("0", "Ensure this value is greater than 0."),
        ("-1.00", "Ensure this value is greater than 0."),
        ("1.005", "Ensure that there are no more than 2 decimal places."),
        ("10000000000.00", "Ensure this value is less than or equal to 9999999999.99."),
        ("NaN", "A valid number is required."),
    ],
)
def test_authorize_refuses_bad_amounts_as_field_errors(amount: str, message: str) -> None:
    with pytest.raises(InvalidAmount) as refused:
        make_payment(amount=amount)
    assert refused.value.fields == {"amount": [message]}
    assert not Payment.objects.exists()


def test_authorize_refuses_a_malformed_token_before_asking_the_gateway() -> None:
    with pytest.raises(InvalidCardToken):
        make_payment(card_token="4242 4242 4242 4242")
    assert not Payment.objects.exists()


def test_authorize_refuses_a_taken_payment_id_without_charging_again() -> None:
    payment = make_payment()
    with pytest.raises(PaymentAlreadyExists):
        payment_authorize(
            customer_id=payment.customer_id,
            amount=Decimal("1.00"),
            card_token="tok_visa",
            payment_id=payment.id,
        )
    assert len(gateway_charges(payment_id=payment.id)) == 1
    assert _events(payment) == [(events.PAYMENT_AUTHORIZED, 1)]


def test_capture_then_refunds_move_through_the_states_with_one_event_per_write() -> None:
    payment = make_payment(amount="20.00")
    payment_capture(payment_id=payment.id)
    payment_refund(payment_id=payment.id, amount=Decimal("7.50"))
    partially = payment_get(payment_id=payment.id, customer_id=None)
    assert (partially.status, partially.refunded_amount) == (
        PaymentStatus.CAPTURED,
        Decimal("7.50"),
    )
    payment_refund(payment_id=payment.id)  # the rest
    refunded = payment_get(payment_id=payment.id, customer_id=None)
    assert (refunded.status, refunded.refunded_amount, refunded.version) == (
        PaymentStatus.REFUNDED,
        Decimal("20.00"),
        4,
    )
    assert [r.amount for r in refunded.refunds.all()] == [Decimal("7.50"), Decimal("12.50")]
    assert _events(payment) == [
        (events.PAYMENT_AUTHORIZED, 1),
        (events.PAYMENT_CAPTURED, 2),
        (events.PAYMENT_REFUNDED, 3),
        (events.PAYMENT_REFUNDED, 4),
    ]
    assert _last_event(payment).payload == payment_state(refunded)


def test_void_lets_an_authorisation_go() -> None:
    payment = make_payment()
    voided = payment_void(payment_id=payment.id)
    assert (voided.status, voided.version) == (PaymentStatus.VOIDED, 2)
    assert _events(payment) == [(events.PAYMENT_AUTHORIZED, 1), (events.PAYMENT_VOIDED, 2)]


@pytest.mark.parametrize(
    ("setup", "action", "status"),
    [
        ("captured", "capture", "captured"),
        ("captured", "void", "captured"),
        ("voided", "capture", "voided"),
        ("voided", "void", "voided"),
        ("voided", "refund", "voided"),
        ("declined", "capture", "declined"),
        ("declined", "void", "declined"),
        ("declined", "refund", "declined"),
        ("authorized", "refund", "authorized"),
        ("refunded", "refund", "refunded"),
        ("refunded", "capture", "refunded"),
        ("refunded", "void", "refunded"),
    ],
)
def test_actions_from_the_wrong_status_are_refused_and_write_nothing(
    setup: str, action: str, status: str
) -> None:
    payment = make_payment(
        capture=setup in ("captured", "refunded"),
        card_token="tok_decline_do_not_honor" if setup == "declined" else "tok_visa",
    )
    if setup == "voided":
        payment_void(payment_id=payment.id)
    if setup == "refunded":
        payment_refund(payment_id=payment.id)
    before = _events(payment)
    act = {"capture": payment_capture, "void": payment_void, "refund": payment_refund}[action]
    with pytest.raises(PaymentNotInState) as refused:
        act(payment_id=payment.id)
    assert refused.value.extra() == {"status": status}
    assert _events(payment) == before
    assert Payment.objects.get(id=payment.id).status == status


def test_a_refund_above_what_is_left_is_refused_with_the_refundable_amount() -> None:
    payment = make_payment(amount="10.00", capture=True)
    payment_refund(payment_id=payment.id, amount=Decimal("2.50"))
    with pytest.raises(RefundExceedsCaptured) as refused:
        payment_refund(payment_id=payment.id, amount=Decimal("7.51"))
    assert refused.value.extra() == {"refundable": "7.50"}
    assert Refund.objects.filter(payment_id=payment.id).count() == 1
    assert Payment.objects.get(id=payment.id).version == 2


def test_a_taken_refund_id_is_refused_and_the_whole_refund_rolls_back() -> None:
    payment = make_payment(amount="10.00", capture=True)
    refund_id = uuid.uuid4()
    payment_refund(payment_id=payment.id, amount=Decimal("1.00"), refund_id=refund_id)
    with pytest.raises(RefundAlreadyExists):
        payment_refund(payment_id=payment.id, amount=Decimal("1.00"), refund_id=refund_id)
    stored = Payment.objects.get(id=payment.id)
    assert (stored.refunded_amount, stored.version) == (Decimal("1.00"), 2)


def test_unknown_payments_are_not_found() -> None:
    for act in (payment_capture, payment_void, payment_refund):
        with pytest.raises(PaymentNotFound):
            act(payment_id=uuid.uuid4())


def test_a_write_whose_transaction_rolls_back_leaves_no_row_and_no_event() -> None:
    payment = make_payment(capture=True)
    events_before = OutboxEvent.objects.count()

    class Abort(Exception):
        pass

    with pytest.raises(Abort), transaction.atomic():
        payment_refund(payment_id=payment.id, amount=Decimal("1.00"))
        payment_authorize(customer_id=uuid.uuid4(), amount=Decimal("3.00"), card_token="tok_visa")
        raise Abort
    assert OutboxEvent.objects.count() == events_before
    assert Payment.objects.count() == 1
    assert not Refund.objects.exists()
    assert Payment.objects.get(id=payment.id).version == 1


def test_the_backfill_reads_payment_states_in_id_pages() -> None:
    payments = [make_payment(capture=True) for _ in range(3)]
    payment_refund(payment_id=payments[0].id, amount=Decimal("1.00"))
    ids = sorted(str(p.id) for p in payments)
    first = payment_states_after(after_key=None, limit=2)
    rest = payment_states_after(after_key=first[-1]["id"], limit=2)
    assert [s["id"] for s in first + rest] == ids
    assert payment_states_after(after_key=ids[-1], limit=2) == []
    by_id = {s["id"]: s for s in first + rest}
    refunded = payment_get(payment_id=payments[0].id, customer_id=None)
    assert by_id[str(refunded.id)] == payment_state(refunded)
    assert by_id[str(refunded.id)]["refunds"][0]["amount"] == "1.00"
    with pytest.raises(ValueError, match="limit must be at least 1"):
        payment_states_after(after_key=None, limit=0)
