"""Request bodies (DRF-compatible validation) and response bodies of the inventory API."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from extracted.chassis.timefmt import format_timestamp
from extracted.chassis.web.validation import (
    CharField,
    DecimalField,
    IntegerField,
    ListField,
    RegexField,
    Serializer,
    UUIDField,
)
from extracted.inventory.models import MAX_STOCK, Product, Reservation

SKU_PATTERN = r"^[A-Za-z0-9._-]+$"
MAX_LINES = 100


def _sku() -> RegexField:
    return RegexField(SKU_PATTERN, max_length=64)


def _not_zero(value: int) -> str | None:
    return "Must not be zero." if value == 0 else None


product_create_input = Serializer(
    {
        "sku": _sku(),
        "name": CharField(max_length=200),
        "price": DecimalField(max_digits=10, decimal_places=2, min_value=Decimal("0")),
        "on_hand": IntegerField(min_value=0, max_value=MAX_STOCK, default=0),
    }
)

adjustment_input = Serializer(
    {"delta": IntegerField(), "reason": CharField(max_length=200)},
    checks={"delta": _not_zero},
)

reservation_line_input = Serializer({"sku": _sku(), "quantity": IntegerField(min_value=1)})

reservation_create_input = Serializer(
    {
        # Optional, writer-chosen (see the monolith's ReservationCreateApi).
        "id": UUIDField(required=False, allow_null=True, default=None),
        "order_id": UUIDField(),
        "lines": ListField(reservation_line_input, allow_empty=False, max_length=MAX_LINES),
    }
)


def product_body(product: Product) -> dict[str, Any]:
    return {
        "sku": product.sku,
        "name": product.name,
        "price": f"{product.price:.2f}",
        "on_hand": product.on_hand,
        "reserved": product.reserved,
        "available": product.available,
        "version": product.version,
        "created_at": format_timestamp(product.created_at),
        "updated_at": format_timestamp(product.updated_at),
    }


def reservation_body(reservation: Reservation) -> dict[str, Any]:
    return {
        "id": str(reservation.id),
        "order_id": str(reservation.order_id),
        "status": reservation.status,
        "lines": [
            {"sku": line.sku, "quantity": line.quantity}
            for line in sorted(reservation.lines, key=lambda line: line.sku)
        ],
        "version": reservation.version,
        "created_at": format_timestamp(reservation.created_at),
        "updated_at": format_timestamp(reservation.updated_at),
    }
