"""Payment states that reverse sync delivers (the payments service is the source), written into
the monolith's tables as they are, refunds included (child rows of the payment's aggregate):
compare-and-set on ``version`` (``reverse_sync.state_rows``) and **no outbox event**, so an event
applied on this side never travels back. Runs inside the caller's transaction
(``reverse_sync.inbox``).

``order_id`` is an id, not a foreign key (``models.py``): a payment may arrive before the order
that names it (each capability has its own relay), and is written all the same
(docs/reverse-sync.md, "References between capabilities")."""

from __future__ import annotations

from decimal import Decimal

from contracts.events import PaymentState
from monolith.payments.models import Payment, Refund
from monolith.reverse_sync.state_rows import Children, write_if_newer


def payment_state_apply(state: PaymentState) -> bool:
    """Write ``state`` (the payment and its refunds) when it is newer than the monolith's row
    (or the row is missing); whether it was written."""
    fields = {
        "customer_id": state.customer_id,
        "order_id": state.order_id,
        "amount": Decimal(state.amount),
        "status": state.status,
        "captured_amount": Decimal(state.captured_amount),
        "refunded_amount": Decimal(state.refunded_amount),
        "decline_reason": state.decline_reason,
        "gateway_reference": state.gateway_reference,
        "version": state.version,
        "created_at": state.created_at,
        "updated_at": state.updated_at,
    }
    refunds = [
        Refund(id=r.id, payment_id=state.id, amount=Decimal(r.amount), created_at=r.created_at)
        for r in state.refunds
    ]
    return write_if_newer(
        Payment, state.id, state.version, fields, Children(Refund, "payment_id", refunds)
    )
