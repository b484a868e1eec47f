"""Reads of the inventory: what the APIs show and what the backfill copies."""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import QuerySet

from monolith.inventory.errors import ProductNotFound, ReservationNotFound
from monolith.inventory.models import Product, Reservation
from monolith.inventory.states import product_state, reservation_state


def product_list() -> QuerySet[Product]:
    """Every product, by sku in byte order (the column's collation)."""
    return Product.objects.order_by("sku")


def product_get(*, sku: str) -> Product:
    product = Product.objects.filter(sku=sku).first()
    if product is None:
        raise ProductNotFound(sku)
    return product


def reservation_get(*, reservation_id: uuid.UUID) -> Reservation:
    """The reservation with its lines (by sku) loaded."""
    reservation = Reservation.objects.prefetch_related("lines").filter(id=reservation_id).first()
    if reservation is None:
        raise ReservationNotFound(reservation_id)
    return reservation


def _check_limit(limit: int) -> None:
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")


def product_states_after(*, after_key: str | None, limit: int) -> list[dict[str, Any]]:
    """One keyset page of the backfill: ``ProductState`` dicts with ``sku > after_key``, by sku.

    The next page starts after the last row's ``sku``; an empty list means the end.
    """
    _check_limit(limit)
    rows = Product.objects.order_by("sku")
    if after_key is not None:
        rows = rows.filter(sku__gt=after_key)
    return [product_state(product) for product in rows[:limit]]


def reservation_states_after(*, after_key: str | None, limit: int) -> list[dict[str, Any]]:
    """One keyset page of the backfill: ``ReservationState`` dicts with ``id > after_key`` (the
    key is ``str(uuid)``), by id."""
    _check_limit(limit)
    rows = Reservation.objects.prefetch_related("lines").order_by("id")
    if after_key is not None:
        rows = rows.filter(id__gt=uuid.UUID(after_key))
    return [reservation_state(reservation) for reservation in rows[:limit]]
