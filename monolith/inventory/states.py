"""Inventory rows -> the contract's state payloads (``contracts.events``), as JSON dicts.

One translation at the edge, used by the outbox events the services record and by the backfill
reader, so an event and a backfilled row of the same version are the same dict.
"""

from __future__ import annotations

from typing import Any

from contracts.events import ProductState, ReservationLine, ReservationState
from monolith.inventory.models import Product, Reservation
from monolith.money import money


def product_state(product: Product) -> dict[str, Any]:
    return ProductState(
        sku=product.sku,
        name=product.name,
        price=money(product.price),
        on_hand=product.on_hand,
        reserved=product.reserved,
        version=product.version,
        created_at=product.created_at,
        updated_at=product.updated_at,
    ).model_dump(mode="json")


def reservation_state(reservation: Reservation) -> dict[str, Any]:
    """Needs the reservation's lines (prefetch them when reading many)."""
    return ReservationState(
        id=reservation.id,
        order_id=reservation.order_id,
        status=reservation.status,  # type: ignore[arg-type]
        lines=[
            ReservationLine(sku=line.product_id, quantity=line.quantity)
            for line in reservation.lines.all()
        ],
        version=reservation.version,
        created_at=reservation.created_at,
        updated_at=reservation.updated_at,
    ).model_dump(mode="json")
