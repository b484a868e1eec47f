"""What the monolith's payments reconciles: its payments with their refunds (by id), read by
monolith.reconcile.source for ``/internal/reconcile/payments/...``."""

from __future__ import annotations

import uuid
from typing import Any

from contracts.reconcile_spec import PAYMENTS
from contracts.reconcile_sql import Storage
from monolith.payments.models import Payment, Refund
from monolith.payments.states import payment_state
from monolith.reconcile.source import SourceAggregate


def payment_states(keys: list[str]) -> list[dict[str, Any]]:
    """The current ``PaymentState`` (refunds included) of each existing payment among
    ``keys``, by id."""
    rows = (
        Payment.objects.prefetch_related("refunds")
        .filter(id__in=[uuid.UUID(key) for key in keys])
        .order_by("id")
    )
    return [payment_state(payment) for payment in rows]


PAYMENT_SOURCE = SourceAggregate(
    spec=PAYMENTS,
    storage=Storage(Payment._meta.db_table, child_table=Refund._meta.db_table),
    states=payment_states,
)
