"""Rows and request bodies for tests: made through the services (so they carry their events),
with unique ids per test."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from monolith.inventory.models import Product, Reservation
from monolith.inventory.services import product_create, reservation_create
from tests.support.random_refs import random_order_id, random_sku

PRODUCTS = "/api/inventory/products/"
RESERVATIONS = "/api/inventory/reservations/"


def product_path(sku: str) -> str:
    return f"{PRODUCTS}{sku}/"


def adjustments_path(sku: str) -> str:
    return f"{PRODUCTS}{sku}/adjustments/"


def reservation_path(reservation_id: uuid.UUID | str, action: str = "") -> str:
    return f"{RESERVATIONS}{reservation_id}/{action + '/' if action else ''}"


def make_product(
    *, sku: str | None = None, name: str = "Blue mug", price: str = "12.50", on_hand: int = 10
) -> Product:
    return product_create(sku=sku or random_sku(), name=name, price=Decimal(price), on_hand=on_hand)


def make_reservation(lines: list[tuple[str, int]], *, order_id: str | None = None) -> Reservation:
    return reservation_create(order_id=uuid.UUID(order_id or random_order_id()), lines=lines)


def product_body(**overrides: Any) -> dict[str, Any]:
    """A valid create-product body; pass a key with ``...`` to leave it out."""
    body: dict[str, Any] = {
        "sku": random_sku(),
        "name": "Blue mug",
        "price": "12.50",
        "on_hand": 10,
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not ...}


def adjustment_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"delta": 5, "reason": "stock take"}
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not ...}


def reservation_body(lines: list[Any], **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"order_id": random_order_id(), "lines": lines}
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not ...}
