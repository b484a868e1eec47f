"""What the monolith's inventory reconciles: its products (by sku) and its reservations with their
lines (by id), answered by monolith.reconcile for ``/internal/reconcile/products/...`` and
``/internal/reconcile/reservations/...``."""

from __future__ import annotations

from contracts.reconcile import BoundsRequest, BoundsResponse
from monolith.inventory.models import Product, Reservation, ReservationLine
from monolith.inventory.states import product_state, reservation_state
from monolith.reconcile import source
from monolith.reconcile.source import SourceAggregate, storage_of
from protocol.reconcile_spec import PRODUCTS, RESERVATIONS

PRODUCT_SOURCE = SourceAggregate(
    spec=PRODUCTS, storage=storage_of(Product), rows=Product.objects.all(), state=product_state
)
RESERVATION_SOURCE = SourceAggregate(
    spec=RESERVATIONS,
    storage=storage_of(Reservation, ReservationLine),
    rows=Reservation.objects.prefetch_related("lines"),
    state=reservation_state,
)


def bounds(request: BoundsRequest) -> BoundsResponse:
    """Keys that split the products into runs of about equal size (what the reconciliation
    splits by; the backfill splits its ranges by them too)."""
    return source.answers(PRODUCT_SOURCE).bounds(request)
