"""Products over HTTP (in-process, real PostgreSQL): happy paths and refusals with exact bodies."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from extracted.inventory.models import OutboxEvent
from tests.extracted.asgi_client import BlockingASGIClient
from tests.extracted.inventory.api.helpers import create_product, product
from tests.support.inventory_api import PRODUCTS, product_body
from tests.support.random_refs import random_sku

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def test_create_answers_the_product_in_contract_order(client: BlockingASGIClient) -> None:
    body = product_body(name="  Blue mug ", price=12.5, on_hand="3")
    resp = client.post(PRODUCTS, json=body)
    assert resp.status_code == 201
    assert resp.headers["content-type"] == "application/json"
    created = resp.json()
    assert list(created) == [
        "sku", "name", "price", "on_hand", "reserved", "available", "version", "created_at",
        "updated_at",
    ]  # fmt: skip
    assert {k: created[k] for k in list(created)[:7]} == {
        "sku": body["sku"],
        "name": "Blue mug",
        "price": "12.50",
        "on_hand": 3,
        "reserved": 0,
        "available": 3,
        "version": 1,
    }
    assert TIMESTAMP.match(created["created_at"]) and created["created_at"] == created["updated_at"]
    assert product(client, body["sku"]) == created
    # Compact, UTF-8 JSON like DRF's renderer.
    assert resp.content.startswith(b'{"sku":"')


def test_on_hand_defaults_to_zero(client: BlockingASGIClient) -> None:
    body = product_body()
    del body["on_hand"]
    assert client.post(PRODUCTS, json=body).json()["on_hand"] == 0


def test_duplicate_sku_is_a_conflict(client: BlockingASGIClient) -> None:
    created = create_product(client)
    resp = client.post(PRODUCTS, json=product_body(sku=created["sku"]))
    assert (resp.status_code, resp.json()) == (
        409,
        {"error": "conflict", "detail": f"Product '{created['sku']}' already exists."},
    )


def test_every_field_error_is_reported_together(client: BlockingASGIClient) -> None:
    resp = client.post(
        PRODUCTS, json={"sku": "bad sku", "name": "", "price": "1.234", "on_hand": -1}
    )
    assert (resp.status_code, resp.json()) == (
        400,
        {
            "error": "validation_error",
            "detail": "Invalid input.",
            "fields": {
                "name": ["This field may not be blank."],
                "on_hand": ["Ensure this value is greater than or equal to 0."],
                "price": ["Ensure that there are no more than 2 decimal places."],
                "sku": ["This value does not match the required pattern."],
            },
        },
    )


def test_unknown_product_and_unknown_urls(client: BlockingASGIClient) -> None:
    missing = client.get(f"{PRODUCTS}no such sku!/")
    assert (missing.status_code, missing.json()) == (
        404,
        {"error": "not_found", "detail": "Product 'no such sku!' not found."},
    )
    for path in (PRODUCTS.rstrip("/"), f"{PRODUCTS}x/y/", "/api/inventory/"):
        resp = client.get(path)
        assert (resp.status_code, resp.json()) == (
            404,
            {"error": "not_found", "detail": "Not found."},
        )


def test_unsupported_methods_are_405(client: BlockingASGIClient) -> None:
    for method, path in (
        ("DELETE", PRODUCTS),
        ("OPTIONS", PRODUCTS),
        ("GET", f"{PRODUCTS}x/adjustments/"),
    ):
        resp = client.request(method, path)
        assert (resp.status_code, resp.json()) == (
            405,
            {"error": "method_not_allowed", "detail": f'Method "{method}" not allowed.'},
        )


def test_head_answers_like_get_without_a_body(client: BlockingASGIClient) -> None:
    created = create_product(client)
    resp = client.head(f"{PRODUCTS}{created['sku']}/")
    assert resp.status_code == 200 and resp.content == b""


def test_adjustments_move_on_hand_and_bump_the_version(
    client: BlockingASGIClient, sessions: sessionmaker[Session]
) -> None:
    created = create_product(client, on_hand=5)
    sku = created["sku"]
    resp = client.post(f"{PRODUCTS}{sku}/adjustments/", json={"delta": "-2", "reason": " count "})
    assert resp.status_code == 200
    assert (resp.json()["on_hand"], resp.json()["version"]) == (3, 2)
    with sessions() as session:
        events = session.scalars(
            select(OutboxEvent).where(OutboxEvent.aggregate_id == sku).order_by(OutboxEvent.seq)
        ).all()
    assert [(e.event_type, e.version, e.origin) for e in events] == [
        ("inventory.product.created.v1", 1, "inventory"),
        ("inventory.product.stock_adjusted.v1", 2, "inventory"),
    ]
    assert events[1].payload["on_hand"] == 3


def test_adjustment_refusals(client: BlockingASGIClient) -> None:
    sku = create_product(client, on_hand=5)["sku"]
    path = f"{PRODUCTS}{sku}/adjustments/"
    zero = client.post(path, json={"delta": 0})
    assert zero.json()["fields"] == {
        "delta": ["Must not be zero."],
        "reason": ["This field is required."],
    }
    short = client.post(path, json={"delta": -6, "reason": "x"})
    assert (short.status_code, short.json()) == (
        409,
        {
            "error": "insufficient_stock",
            "detail": "Insufficient stock.",
            "shortages": [{"sku": sku, "requested": 6, "available": 5}],
        },
    )
    too_big = client.post(path, json={"delta": 2_147_483_647, "reason": "x"})
    assert (too_big.status_code, too_big.json()["fields"]) == (
        400,
        {"delta": ["Ensure this value is less than or equal to 2147483642."]},
    )
    assert product(client, sku)["version"] == 1


def test_adjusting_an_unknown_product_is_404_before_the_body(client: BlockingASGIClient) -> None:
    resp = client.post(
        f"{PRODUCTS}{random_sku()}/adjustments/",
        content=b"not json",
        headers={"Content-Type": "text/plain"},
    )
    assert resp.status_code == 404 and resp.json()["error"] == "not_found"


def test_bodies_that_are_not_json_objects(client: BlockingASGIClient) -> None:
    not_a_dict = ["Invalid data. Expected a dictionary, but got list."]
    cases = [
        (b"[1]", "application/json", 400, {"non_field_errors": not_a_dict}),
        (b"{", "application/json", 400, None),
        (b"x", "text/plain; charset=utf-8", 415, None),
    ]  # fmt: skip
    for raw, content_type, status, fields in cases:
        resp = client.post(PRODUCTS, content=raw, headers={"Content-Type": content_type})
        assert resp.status_code == status
        if fields is not None:
            assert resp.json()["fields"] == fields
    assert client.post(
        PRODUCTS, content=b"{", headers={"Content-Type": "application/json"}
    ).json() == {
        "error": "malformed_request",
        "detail": "Body is not valid JSON.",
    }
    assert client.post(PRODUCTS, content=b"x", headers={"Content-Type": "text/plain"}).json() == {
        "error": "unsupported_media_type",
        "detail": 'Unsupported media type "text/plain" in request.',
    }


def test_known_paths_carry_drf_allow_headers(client: BlockingASGIClient) -> None:
    sku = create_product(client)["sku"]
    expected = {
        ("GET", PRODUCTS): "GET, POST, HEAD, OPTIONS",
        ("GET", f"{PRODUCTS}{sku}/"): "GET, HEAD, OPTIONS",
        ("GET", f"{PRODUCTS}missing/"): "GET, HEAD, OPTIONS",
        ("DELETE", f"{PRODUCTS}{sku}/"): "GET, HEAD, OPTIONS",
        ("POST", f"{PRODUCTS}{sku}/adjustments/"): "POST, OPTIONS",
        ("GET", "/health/live"): "GET, HEAD, OPTIONS",
    }
    for (method, path), allow in expected.items():
        assert client.request(method, path).headers.get("allow") == allow, (method, path)
    assert "allow" not in client.get("/nope/").headers
