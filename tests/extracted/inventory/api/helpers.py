"""Small steps the API tests share (through the HTTP API, never the database)."""

from __future__ import annotations

from typing import Any

from tests.extracted.asgi_client import BlockingASGIClient
from tests.support.inventory_api import (
    PRODUCTS,
    RESERVATIONS,
    product_body,
    product_path,
    reservation_body,
)


def create_product(client: BlockingASGIClient, **overrides: Any) -> dict[str, Any]:
    resp = client.post(PRODUCTS, json=product_body(**overrides))
    assert resp.status_code == 201, resp.text
    body: dict[str, Any] = resp.json()
    return body


def create_reservation(client: BlockingASGIClient, lines: list[tuple[str, int]]) -> dict[str, Any]:
    resp = client.post(RESERVATIONS, json=reservation_body(lines))
    assert resp.status_code == 201, resp.text
    body: dict[str, Any] = resp.json()
    return body


def product(client: BlockingASGIClient, sku: str) -> dict[str, Any]:
    resp = client.get(product_path(sku))
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body
