"""Reads of the payments, scoped as the monolith scopes them: ``customer_id`` is
``customer_scope(caller)`` (``None`` for staff), applied in the query, so another customer's
payment is not found exactly like an unknown id."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from extracted.payments.errors import PaymentNotFound
from extracted.payments.models import Payment


def payment_get(
    session: Session, *, payment_id: uuid.UUID, customer_id: uuid.UUID | None
) -> Payment:
    query = select(Payment).where(Payment.id == payment_id)
    if customer_id is not None:
        query = query.where(Payment.customer_id == customer_id)
    payment = session.scalars(query).one_or_none()
    if payment is None:
        raise PaymentNotFound(payment_id)
    return payment


def _listed(customer_id: uuid.UUID | None, filters: dict[str, Any]) -> Select[Any]:
    query = select(Payment)
    if customer_id is not None:
        query = query.where(Payment.customer_id == customer_id)
    for key in ("status", "order_id", "customer_id"):
        value = filters.get(key)
        if value is not None:
            query = query.where(getattr(Payment, key) == value)
    return query


def payment_count(
    session: Session, *, customer_id: uuid.UUID | None, filters: dict[str, Any]
) -> int:
    listed = _listed(customer_id, filters).subquery()
    return session.scalar(select(func.count()).select_from(listed)) or 0


def payment_page(
    session: Session,
    *,
    customer_id: uuid.UUID | None,
    filters: dict[str, Any],
    offset: int,
    limit: int,
) -> Sequence[Payment]:
    """Newest first, ties by id descending (``filters``: status, order_id, customer_id; the
    last narrows within the scope, never widens it)."""
    query = _listed(customer_id, filters).order_by(Payment.created_at.desc(), Payment.id.desc())
    rows: Sequence[Payment] = session.scalars(query.offset(offset).limit(limit)).all()
    return rows
