"""The inventory HTTP contract (docs/inventory-api.md) as tests speak it: paths, request bodies
with unique ids per call, and the whole product listing. The monolith and the service answer the
same contract, so every suite that talks to either one builds its requests here."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlsplit

import httpx

from tests.support.random_refs import random_order_id, random_sku

PRODUCTS = "/api/inventory/products/"
RESERVATIONS = "/api/inventory/reservations/"


def product_path(sku: str) -> str:
    return f"{PRODUCTS}{sku}/"


def adjustments_path(sku: str) -> str:
    return f"{PRODUCTS}{sku}/adjustments/"


def reservation_path(reservation_id: uuid.UUID | str, action: str = "") -> str:
    return f"{RESERVATIONS}{reservation_id}/{action + '/' if action else ''}"


def _without_left_out(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if v is not ...}


def product_body(**overrides: Any) -> dict[str, Any]:
    """A valid create-product body; pass a key with ``...`` to leave it out."""
    body: dict[str, Any] = {
        "sku": random_sku(),
        "name": "Blue mug",
        "price": "12.50",
        "on_hand": 10,
    }
    body.update(overrides)
    return _without_left_out(body)


def adjustment_body(**overrides: Any) -> dict[str, Any]:
    """A valid adjustment body; pass a key with ``...`` to leave it out."""
    body: dict[str, Any] = {"delta": 5, "reason": "stock take"}
    body.update(overrides)
    return _without_left_out(body)


def _line(line: Any) -> Any:
    if isinstance(line, tuple):
        sku, quantity = line
        return {"sku": sku, "quantity": quantity}
    return line


def reservation_body(lines: Any, **overrides: Any) -> dict[str, Any]:
    """A create-reservation body for a new order. Each line is a ``(sku, quantity)`` tuple or a
    value sent as it is; ``lines`` that is not a list is sent as it is too (validation vectors).
    Pass a key with ``...`` to leave it out."""
    body: dict[str, Any] = {
        "order_id": random_order_id(),
        "lines": [_line(line) for line in lines] if isinstance(lines, list) else lines,
    }
    body.update(overrides)
    return _without_left_out(body)


def all_products(base_url: str) -> list[dict[str, Any]]:
    """Every product row as the API at ``base_url`` shows it, following the pagination links.

    The links name the stack's public origin (the proxy), which may not run or may route
    elsewhere: their path and query are asked of ``base_url``, the owner being read."""
    rows: list[dict[str, Any]] = []
    url: str | None = f"{base_url}{PRODUCTS}?page_size=500"
    while url:
        page = httpx.get(url, timeout=10).json()
        rows.extend(page["results"])
        link = urlsplit(page["next"]) if page["next"] else None
        url = f"{base_url}{link.path}?{link.query}" if link else None
    return rows
