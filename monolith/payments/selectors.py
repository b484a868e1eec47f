"""Reads of the payments: what the APIs show and what the backfill copies.

Every read a caller makes is scoped: ``customer_id`` is ``customer_scope(principal)`` (``None``
for staff), applied in the query, so another customer's payment is not found exactly like an
unknown id.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import QuerySet

from monolith.payments.errors import PaymentNotFound
from monolith.payments.models import Payment
from monolith.payments.states import payment_state


def _scoped(customer_id: uuid.UUID | None) -> QuerySet[Payment]:
    rows = Payment.objects.prefetch_related("refunds")
    return rows if customer_id is None else rows.filter(customer_id=customer_id)


def payment_get(*, payment_id: uuid.UUID, customer_id: uuid.UUID | None) -> Payment:
    """The payment with its refunds, if ``customer_id`` (``None``: anyone's) may see it."""
    payment = _scoped(customer_id).filter(id=payment_id).first()
    if payment is None:
        raise PaymentNotFound(payment_id)
    return payment


def payment_list(
    *,
    customer_id: uuid.UUID | None,
    filters: dict[str, Any] | None = None,
) -> QuerySet[Payment]:
    """Newest first, ties by id (descending). ``filters``: ``status``, ``order_id`` and
    ``customer_id`` (the last narrows within the scope; it never widens it)."""
    rows = _scoped(customer_id)
    for key in ("status", "order_id", "customer_id"):
        value = (filters or {}).get(key)
        if value is not None:
            rows = rows.filter(**{key: value})
    return rows.order_by("-created_at", "-id")


def payment_states_after(*, after_key: str | None, limit: int) -> list[dict[str, Any]]:
    """One keyset page of the backfill: ``PaymentState`` dicts with ``id > after_key`` (the key
    is ``str(uuid)``), by id; an empty list means the end."""
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    rows = Payment.objects.prefetch_related("refunds").order_by("id")
    if after_key is not None:
        rows = rows.filter(id__gt=uuid.UUID(after_key))
    return [payment_state(payment) for payment in rows[:limit]]
