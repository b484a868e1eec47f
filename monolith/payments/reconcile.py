"""What the monolith's payments reconciles: its payments with their refunds (by id), answered by
monolith.reconcile for ``/internal/reconcile/payments/...``."""

from __future__ import annotations

from monolith.payments.models import Payment, Refund
from monolith.payments.states import payment_state
from monolith.reconcile.source import SourceAggregate, storage_of
from protocol.reconcile_spec import PAYMENTS

PAYMENT_SOURCE = SourceAggregate(
    spec=PAYMENTS,
    storage=storage_of(Payment, Refund),
    rows=Payment.objects.prefetch_related("refunds"),
    state=payment_state,
)
