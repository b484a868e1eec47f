"""Properties of refunds under any sequence of refund amounts: what is refunded never exceeds
what was captured, the payment is ``refunded`` exactly when both are equal, the refund rows sum
to ``refunded_amount``, versions count the writes and each write leaves one event."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monolith.errors import ApplicationError
from monolith.outbox.models import OutboxEvent
from monolith.payments.errors import PaymentNotInState, RefundExceedsCaptured
from monolith.payments.models import Payment, PaymentStatus
from monolith.payments.services import payment_refund
from tests.monolith.factories import make_payment

pytestmark = pytest.mark.django_db

CENT = Decimal("0.01")

#: A refund: an amount in cents, or ``None`` for "everything still refundable".
refunds = st.lists(st.one_of(st.none(), st.integers(1, 150_000)), max_size=20)


class Rollback(Exception):
    """Ends an example's transaction, so examples never see each other's rows."""


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(captured_cents=st.integers(1, 100_000), amounts=refunds)
def test_refunds_never_exceed_what_was_captured(
    captured_cents: int, amounts: list[int | None]
) -> None:
    captured = captured_cents * CENT
    with pytest.raises(Rollback), transaction.atomic():
        payment = make_payment(amount=str(captured), capture=True)
        refunded, writes = Decimal("0.00"), 1
        for cents in amounts:
            amount = None if cents is None else cents * CENT
            events_before = OutboxEvent.objects.count()
            left = captured - refunded
            try:
                payment_refund(payment_id=payment.id, amount=amount)
                accepted = True
            except ApplicationError as refusal:
                accepted = False
                if left == 0:
                    assert isinstance(refusal, PaymentNotInState)
                else:
                    assert isinstance(refusal, RefundExceedsCaptured)
                    assert refusal.refundable == left
            assert accepted == (left > 0 and (amount is None or amount <= left)), (amount, left)
            if accepted:
                refunded += left if amount is None else amount
                writes += 1
            row = Payment.objects.get(id=payment.id)
            assert row.refunded_amount == refunded <= row.captured_amount == captured
            assert (row.status == PaymentStatus.REFUNDED) == (refunded == captured)
            assert row.status in (PaymentStatus.CAPTURED, PaymentStatus.REFUNDED)
            assert sum(r.amount for r in row.refunds.all()) == refunded
            assert row.version == writes
            assert OutboxEvent.objects.count() - events_before == (1 if accepted else 0)
        raise Rollback
