"""What the payments service reconciles (extracted.chassis.sync.reconcile): its payments with their
refunds, repaired through the subscriber's own upsert (``write_payment_states``: a payment's
refunds are replaced with the source's), and the record of each run."""

from __future__ import annotations

from sqlalchemy import Table

from contracts.events import PaymentState
from extracted.chassis.sync.reconcile import OwnedAggregate
from extracted.chassis.sync.reconcile_api import reconcile_router
from extracted.chassis.web.deps import get_sessions
from extracted.payments.backfill import write_payment_states
from extracted.payments.models import Payment, ReconciliationRun, Refund
from protocol.reconcile_spec import PAYMENTS

_payments: Table = Payment.__table__  # type: ignore[assignment]
_refunds: Table = Refund.__table__  # type: ignore[assignment]


PAYMENT_OWNER = OwnedAggregate(
    spec=PAYMENTS,
    table=_payments,
    child_table=_refunds,
    state=PaymentState,
    write=write_payment_states,
)

#: ``/internal/reconcile/payments/...`` (extracted.chassis.sync.reconcile_api).
router = reconcile_router([PAYMENT_OWNER], ReconciliationRun, get_sessions)
