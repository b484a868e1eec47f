"""Loading the monolith's payments into this service's database: the owner's side of a backfill.

``apply_payment_states`` takes ``contracts.events.PaymentState`` rows (what the monolith's
``payment_states_after`` reads and its payment events carry) and upserts each by version inside
the caller's transaction: a row newer than ours (or missing here) replaces ours, refunds
included; an older or equal one changes nothing. Rows keep their ids and timestamps, so both
sides then answer the same reads byte for byte.

The payments subscriber (``extracted.payments.sync``, fed by ``sync.payments_worker``) applies
each event's state through it, and the parity suite calls it directly
(``tests/parity/copy_payments.py``). Nothing is recorded in the service's own outbox (the rows
are the monolith's, not this service's writes).

Concurrent appliers (two workers with two versions of one new payment) never collide on the
primary key: a missing row is created with ``INSERT ... ON CONFLICT DO NOTHING``, and only the
rows that were there already are locked (``FOR UPDATE``) and compared.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session

from contracts.events import PaymentState
from extracted.chassis.sync.subscriber import dialect_insert
from extracted.payments.models import Payment, Refund

_payments: Table = Payment.__table__  # type: ignore[assignment]
_refunds: Table = Refund.__table__  # type: ignore[assignment]


def apply_payment_states(session: Session, rows: Iterable[dict[str, Any]]) -> int:
    """Upsert ``rows`` by version; returns how many replaced (or created) a payment here.
    A row that is not a valid ``PaymentState`` raises ``pydantic.ValidationError`` (nothing of
    the batch should then be committed: the caller's transaction rolls back)."""
    return write_payment_states(session, [PaymentState.model_validate(row) for row in rows])


def write_payment_states(session: Session, states: Iterable[PaymentState]) -> int:
    """``apply_payment_states`` for states already validated (what the event subscriber holds:
    no round trip through JSON and a second validation per event)."""
    newest: dict[Any, PaymentState] = {}
    for state in states:
        if state.id not in newest or state.version > newest[state.id].version:
            newest[state.id] = state
    if not newest:
        return 0
    created = _create_missing(session, newest)
    newest = {k: v for k, v in newest.items() if k not in created}
    if not newest:
        return len(created)
    existing = {
        payment.id: payment
        for payment in session.scalars(
            select(Payment)
            .where(Payment.id.in_(sorted(newest)))
            .order_by(Payment.id)
            .with_for_update()
        )
    }
    taken = len(created)
    for payment_id, state in sorted(newest.items()):
        current = existing.get(payment_id)
        if current is not None and current.version >= state.version:
            continue
        if current is None:  # deleted since the insert saw it: cannot happen (no deletes)
            current = Payment(id=payment_id, refunds=[])
            session.add(current)
        _copy(current, state)
        taken += 1
    session.flush()
    return taken


def _create_missing(session: Session, states: dict[Any, PaymentState]) -> set[Any]:
    """Insert the payments this database does not hold yet (refunds included); their ids. A row
    another transaction inserts meanwhile is waited for and left alone (ON CONFLICT DO NOTHING),
    then compared by version like any existing row."""
    stmt = (
        dialect_insert(session, _payments)
        .on_conflict_do_nothing(index_elements=["id"])
        .returning(_payments.c.id)
    )
    rows = [_payment_row(state) for _, state in sorted(states.items())]
    created = set(session.scalars(stmt, rows).all())
    refunds = [
        {
            "id": r.id,
            "payment_id": state.id,
            "amount": Decimal(r.amount),
            "created_at": r.created_at,
        }
        for payment_id, state in sorted(states.items())
        if payment_id in created
        for r in state.refunds
    ]
    if refunds:
        session.execute(insert(_refunds), refunds)
    return created


def _payment_row(state: PaymentState) -> dict[str, Any]:
    return {
        "id": state.id,
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


def _copy(payment: Payment, state: PaymentState) -> None:
    payment.customer_id = state.customer_id
    payment.order_id = state.order_id
    payment.amount = Decimal(state.amount)
    payment.status = state.status
    payment.captured_amount = Decimal(state.captured_amount)
    payment.refunded_amount = Decimal(state.refunded_amount)
    payment.decline_reason = state.decline_reason
    payment.gateway_reference = state.gateway_reference
    payment.version = state.version
    payment.created_at = state.created_at
    payment.updated_at = state.updated_at
    # Refunds are append-only rows of the aggregate: keep ours (same id, same row), add the new.
    wanted = {r.id for r in state.refunds}
    payment.refunds = [r for r in payment.refunds if r.id in wanted]
    known = {r.id for r in payment.refunds}
    payment.refunds.extend(
        Refund(id=r.id, payment_id=state.id, amount=Decimal(r.amount), created_at=r.created_at)
        for r in state.refunds
        if r.id not in known
    )
