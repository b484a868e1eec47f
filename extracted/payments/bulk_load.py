"""The payments backfill's bulk path on PostgreSQL: a page of ``PaymentState`` rows ``COPY``ed
into staging tables (payments and refunds) and merged in one statement
(``extracted.chassis.bulk_merge``): a payment is written where it is newer than ours (or missing),
and only then are its refunds replaced by the page's. Versions decide, so the backfill is safe
while the relay is live: a payment an event already brought further is left alone, refunds
included, and an event newer than the backfilled payment still applies afterwards.

SQLite (embedded mode) takes the plain upsert, ``backfill.write_payment_states``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from sqlalchemy.orm import Session

from contracts.events import PaymentState
from extracted.chassis.bulk_merge import AggregateMerge, Children

PAYMENT_COLUMNS: Final = (
    "id",
    "customer_id",
    "order_id",
    "amount",
    "status",
    "captured_amount",
    "refunded_amount",
    "decline_reason",
    "gateway_reference",
    "version",
    "created_at",
    "updated_at",
)
REFUND_COLUMNS: Final = ("id", "payment_id", "amount", "created_at")

_MERGE: Final = AggregateMerge(
    "payments",
    PAYMENT_COLUMNS,
    "id",
    Children("refunds", REFUND_COLUMNS, key=("id",), parent="payment_id"),
)


def _payment_row(state: PaymentState) -> tuple[Any, ...]:
    # Money travels as its text: PostgreSQL parses it (and refuses what is not a number).
    return (
        state.id,
        state.customer_id,
        state.order_id,
        state.amount,
        state.status,
        state.captured_amount,
        state.refunded_amount,
        state.decline_reason,
        state.gateway_reference,
        state.version,
        state.created_at,
        state.updated_at,
    )


def copy_payment_states(session: Session, states: Sequence[PaymentState]) -> int:
    """Write ``states`` (one per payment) by version, refunds included; the payments written.
    A page PostgreSQL refuses raises ``SyncInputError`` (the caller's transaction rolls back)."""
    refunds = (
        (refund.id, state.id, refund.amount, refund.created_at)
        for state in states
        for refund in state.refunds
    )
    return _MERGE.write(session, map(_payment_row, states), refunds)
