"""Rows for tests, made through the services (so they carry their events), with unique ids per
test; request bodies and paths are ``tests.support.inventory_api``'s."""

from __future__ import annotations

import uuid
from decimal import Decimal

from monolith.inventory.models import Product, Reservation
from monolith.inventory.services import product_create, reservation_create
from tests.support.random_refs import random_order_id, random_sku


def make_product(
    *, sku: str | None = None, name: str = "Blue mug", price: str = "12.50", on_hand: int = 10
) -> Product:
    return product_create(sku=sku or random_sku(), name=name, price=Decimal(price), on_hand=on_hand)


def make_reservation(lines: list[tuple[str, int]], *, order_id: str | None = None) -> Reservation:
    return reservation_create(order_id=uuid.UUID(order_id or random_order_id()), lines=lines)
