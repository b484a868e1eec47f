"""The fake card gateway: the card token alone decides, deterministically (pure logic)."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from card_gateway.fake import (
    Approved,
    Charge,
    Declined,
    GatewayError,
    MalformedCardToken,
    Statement,
    gateway_authorize,
    gateway_charge_count,
    gateway_charges,
    gateway_reference,
    is_card_token,
)


def _authorize(card_token: str, payment_id: uuid.UUID | None = None) -> Approved | Declined:
    return gateway_authorize(
        payment_id=payment_id or uuid.uuid4(), amount=Decimal("10.00"), card_token=card_token
    )


@pytest.mark.parametrize("token", ["tok_visa", "tok_mastercard", "tok_ok_", "tok_ok_anything_1"])
def test_approving_tokens_approve_with_a_reference_derived_from_the_payment_id(token: str) -> None:
    payment_id = uuid.uuid4()
    outcome = _authorize(token, payment_id)
    assert outcome == Approved(reference=gateway_reference(payment_id))
    assert outcome.reference.startswith("gw_") and len(outcome.reference) == 27
    assert [c.payment_id for c in gateway_charges(payment_id=payment_id)] == [payment_id]


def test_the_reference_is_the_same_for_the_same_payment_and_differs_between_payments() -> None:
    payment_id = uuid.uuid4()
    assert gateway_reference(payment_id) == gateway_reference(uuid.UUID(str(payment_id)))
    assert gateway_reference(payment_id) != gateway_reference(uuid.uuid4())


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        ("tok_decline_insufficient_funds", "insufficient_funds"),
        ("tok_decline_stolen_card", "stolen_card"),
        ("tok_decline_", "declined"),
        ("tok_amex", "unknown_card"),
        ("tok_slow_soon", "unknown_card"),
    ],
)
def test_declining_tokens_decline_with_their_reason_and_charge_nothing(
    token: str, reason: str
) -> None:
    payment_id = uuid.uuid4()
    assert _authorize(token, payment_id) == Declined(reason=reason)
    assert gateway_charges(payment_id=payment_id) == []


def test_tok_error_raises_gateway_error_and_charges_nothing() -> None:
    payment_id = uuid.uuid4()
    with pytest.raises(GatewayError):
        _authorize("tok_error", payment_id)
    assert gateway_charges(payment_id=payment_id) == []


def test_tok_slow_approves_after_its_delay(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    monkeypatch.setattr("card_gateway.fake.time.sleep", slept.append)
    assert isinstance(_authorize("tok_slow_250"), Approved)
    assert isinstance(_authorize("tok_slow_999999"), Approved)
    assert slept == [0.25, 10.0]  # capped at 10 s


@pytest.mark.parametrize(
    "token",
    [
        "",
        "tok_",
        "visa",
        "TOK_VISA",
        "tok_Visa",
        "tok-visa",
        "tok_visa ",
        "tok_é",
        "tok_" + "a" * 97,
    ],
)
def test_malformed_tokens_are_refused_before_anything_happens(token: str) -> None:
    assert not is_card_token(token)
    with pytest.raises(MalformedCardToken):
        _authorize(token)


def test_the_longest_token_is_accepted() -> None:
    assert is_card_token("tok_ok_" + "a" * 93)


def test_a_statement_counts_every_approval_and_keeps_only_the_most_recent() -> None:
    statement = Statement(size=3)
    charges = [
        Charge(payment_id=uuid.uuid4(), amount=Decimal("1.00"), reference="gw_x") for _ in range(5)
    ]
    for charge in charges:
        statement.record(charge)
    assert statement.count() == 5
    assert statement.recent() == charges[2:]
    assert statement.recent(payment_id=charges[4].payment_id) == [charges[4]]
    assert statement.recent(payment_id=charges[0].payment_id) == []


def test_the_process_statement_counts_approvals_only() -> None:
    before = gateway_charge_count()
    _authorize("tok_visa")
    _authorize("tok_decline_x")
    assert gateway_charge_count() == before + 1
