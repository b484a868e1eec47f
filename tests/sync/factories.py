"""Request bodies for monolith writes in the sync tests (unique ids per test)."""

from __future__ import annotations

from typing import Any

from tests.support.random_refs import random_order_id, random_sku


def product_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "sku": random_sku("sync"),
        "name": "Sync mug",
        "price": "12.50",
        "on_hand": 10,
    }
    body.update(overrides)
    return body


def adjustment_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"delta": 5, "reason": "stock take"}
    body.update(overrides)
    return body


def reservation_body(lines: list[tuple[str, int]], **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "order_id": random_order_id(),
        "lines": [{"sku": sku, "quantity": quantity} for sku, quantity in lines],
    }
    body.update(overrides)
    return body
