"""Reads of the orders: what the APIs show and what the backfill copies.

Every read for a caller takes ``customer_scope`` (``monolith.identity.access``): ``None`` for staff,
else the customer's id, and filters by it in the query itself, so another customer's order is not
found exactly like an unknown id.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import QuerySet

from monolith.orders.errors import OrderNotFound
from monolith.orders.models import Order
from monolith.orders.states import order_state

#: Newest first, ties by id (descending): the listing's stable order, served by the indexes.
LISTING_ORDER = ("-created_at", "-id")


def _scoped(scope: uuid.UUID | None) -> QuerySet[Order]:
    orders = Order.objects.all()
    return orders if scope is None else orders.filter(customer_id=scope)


def order_list(
    *,
    scope: uuid.UUID | None,
    status: str | None = None,
    customer_id: uuid.UUID | None = None,
) -> QuerySet[Order]:
    """The orders ``scope`` may see, filtered, newest first; lines prefetched."""
    orders = _scoped(scope)
    if status is not None:
        orders = orders.filter(status=status)
    if customer_id is not None:
        orders = orders.filter(customer_id=customer_id)
    return orders.prefetch_related("lines").order_by(*LISTING_ORDER)


def order_get(*, order_id: uuid.UUID, scope: uuid.UUID | None) -> Order:
    """The order with its lines, if ``scope`` may see it; else ``OrderNotFound``."""
    order = _scoped(scope).prefetch_related("lines").filter(id=order_id).first()
    if order is None:
        raise OrderNotFound(order_id)
    return order


def order_exists(*, order_id: uuid.UUID, scope: uuid.UUID | None) -> bool:
    return _scoped(scope).filter(id=order_id).exists()


def order_states_after(*, after_key: str | None, limit: int) -> list[dict[str, Any]]:
    """One keyset page of the backfill: ``OrderState`` dicts with ``id > after_key`` (the key is
    ``str(uuid)``), by id; an empty list means the end."""
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    rows = Order.objects.prefetch_related("lines").order_by("id")
    if after_key is not None:
        rows = rows.filter(id__gt=uuid.UUID(after_key))
    return [order_state(order) for order in rows[:limit]]
