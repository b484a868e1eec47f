"""Reads of the orders, scoped like the monolith's: ``scope`` is ``None`` for staff, else the
customer's id, and is part of the query itself, so another customer's order is not found exactly
like an unknown id."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from extracted.orders import states
from extracted.orders.models import Order, Saga


def _scoped(scope: uuid.UUID | None) -> Select[Order]:
    query = select(Order)
    return query if scope is None else query.where(Order.customer_id == scope)


def _filtered(
    scope: uuid.UUID | None, status: str | None, customer_id: uuid.UUID | None
) -> Select[Order]:
    query = _scoped(scope)
    if status is not None:
        query = query.where(Order.status == status)
    if customer_id is not None:
        query = query.where(Order.customer_id == customer_id)
    return query


def order_count(
    session: Session, *, scope: uuid.UUID | None, status: str | None, customer_id: uuid.UUID | None
) -> int:
    query = _filtered(scope, status, customer_id).with_only_columns(func.count())
    return int(session.scalar(query.order_by(None)) or 0)


def order_page(
    session: Session,
    *,
    scope: uuid.UUID | None,
    status: str | None,
    customer_id: uuid.UUID | None,
    offset: int,
    limit: int,
) -> Sequence[Order]:
    """Newest first, ties by id descending (the monolith's listing order)."""
    query = _filtered(scope, status, customer_id).order_by(Order.created_at.desc(), Order.id.desc())
    return session.scalars(query.offset(offset).limit(limit)).all()


def order_get(session: Session, *, order_id: uuid.UUID, scope: uuid.UUID | None) -> Order | None:
    return session.scalars(_scoped(scope).where(Order.id == order_id)).one_or_none()


def order_lock(session: Session, *, order_id: uuid.UUID, scope: uuid.UUID | None) -> Order | None:
    return session.scalars(
        _scoped(scope).where(Order.id == order_id).with_for_update()
    ).one_or_none()


def active_cancel(session: Session, order_id: uuid.UUID) -> Saga | None:
    return session.scalars(
        select(Saga).where(
            Saga.order_id == order_id, Saga.kind == states.CANCEL, Saga.terminal.is_(False)
        )
    ).first()


def stuck_sagas(session: Session) -> Sequence[Saga]:
    return session.scalars(
        select(Saga).where(Saga.terminal.is_(False), Saga.stuck).order_by(Saga.created_at)
    ).all()


def sagas_in_flight(session: Session) -> int:
    """Sagas not ended yet: each may still write its order (and calls inventory and payments
    until it ends), so a drain of the reverse flow waits until there are none
    (``/internal/sync/outbox``'s ``in_flight``)."""
    return int(
        session.scalar(select(func.count()).select_from(Saga).where(Saga.terminal.is_(False))) or 0
    )
