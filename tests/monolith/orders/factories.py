"""Orders for tests, made through the services (so they carry their events and their payment and
reservation rows), and the request bodies and paths of the orders API."""

from __future__ import annotations

import uuid
from typing import Any

from monolith.inventory.models import Product
from monolith.orders.models import Order
from monolith.orders.services import order_checkout
from tests.monolith.factories import make_product

ORDERS = "/api/orders/"


def order_path(order_id: uuid.UUID | str, action: str = "") -> str:
    return f"{ORDERS}{order_id}/{action + '/' if action else ''}"


def checkout_body(
    lines: list[tuple[str, int]], *, card_token: str = "tok_visa", **extra: Any
) -> dict[str, Any]:
    return {
        "lines": [{"sku": sku, "quantity": quantity} for sku, quantity in lines],
        "card_token": card_token,
        **extra,
    }


def make_order(
    *,
    customer_id: uuid.UUID,
    lines: list[tuple[str, int]] | None = None,
    card_token: str = "tok_visa",
) -> Order:
    """A checkout through the service (``confirmed`` unless stock or the card says otherwise);
    without ``lines``, one unit of a new product."""
    if lines is None:
        product: Product = make_product(price="12.50", on_hand=5)
        lines = [(product.sku, 1)]
    return order_checkout(customer_id=customer_id, lines=lines, card_token=card_token).order
