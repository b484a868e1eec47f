"""What the monolith's inventory reconciles: its products (by sku) and its reservations with
their lines (by id), read by monolith.reconcile.source for ``/internal/reconcile/products/...``
and ``/internal/reconcile/reservations/...``."""

from __future__ import annotations

import uuid
from typing import Any

from contracts.reconcile import BoundsRequest, BoundsResponse
from contracts.reconcile_spec import PRODUCTS, RESERVATIONS
from contracts.reconcile_sql import Storage
from monolith.inventory.models import Product, Reservation, ReservationLine
from monolith.inventory.states import product_state, reservation_state
from monolith.reconcile import source


def product_states(keys: list[str]) -> list[dict[str, Any]]:
    """The current ``ProductState`` of each existing product among ``keys``, by sku."""
    return [product_state(p) for p in Product.objects.filter(sku__in=keys).order_by("sku")]


def reservation_states(keys: list[str]) -> list[dict[str, Any]]:
    """The current ``ReservationState`` (lines included) of each existing reservation among
    ``keys``, by id."""
    rows = (
        Reservation.objects.prefetch_related("lines")
        .filter(id__in=[uuid.UUID(key) for key in keys])
        .order_by("id")
    )
    return [reservation_state(reservation) for reservation in rows]


PRODUCT_SOURCE = source.SourceAggregate(
    spec=PRODUCTS, storage=Storage(Product._meta.db_table), states=product_states
)
RESERVATION_SOURCE = source.SourceAggregate(
    spec=RESERVATIONS,
    storage=Storage(Reservation._meta.db_table, child_table=ReservationLine._meta.db_table),
    states=reservation_states,
)


def bounds(request: BoundsRequest) -> BoundsResponse:
    """Keys that split the products into runs of about equal size (what the reconciliation
    splits by; the backfill splits its ranges by them too)."""
    return source.bounds(PRODUCT_SOURCE, request)
