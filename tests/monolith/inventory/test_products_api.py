"""Products over HTTP: every endpoint's happy path and refusals, as docs/inventory-api.md says."""

from __future__ import annotations

import re

import pytest

from monolith.inventory.models import MAX_STOCK, Product
from tests.monolith.api_client import JsonClient
from tests.monolith.factories import make_product, make_reservation
from tests.support.inventory_api import (
    PRODUCTS,
    adjustment_body,
    adjustments_path,
    product_body,
    product_path,
)
from tests.support.random_refs import random_sku

pytestmark = pytest.mark.django_db

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
PRODUCT_KEYS = [
    "sku",
    "name",
    "price",
    "on_hand",
    "reserved",
    "available",
    "version",
    "created_at",
    "updated_at",
]


def test_create_answers_the_new_product_in_contract_order(api: JsonClient) -> None:
    body = product_body(price="12.5", on_hand=7)
    resp = api.post(PRODUCTS, body)

    assert resp.status == 201, resp.body
    assert list(resp.body) == PRODUCT_KEYS
    assert resp.body["sku"] == body["sku"]
    assert resp.body["price"] == "12.50"
    assert (resp.body["on_hand"], resp.body["reserved"], resp.body["available"]) == (7, 0, 7)
    assert resp.body["version"] == 1
    assert TIMESTAMP.match(resp.body["created_at"])
    assert resp.body["created_at"] == resp.body["updated_at"]
    assert resp.headers["Content-Type"] == "application/json"
    assert Product.objects.get(sku=body["sku"]).on_hand == 7


def test_create_defaults_on_hand_to_zero_and_trims_strings(api: JsonClient) -> None:
    sku = random_sku()
    resp = api.post(PRODUCTS, product_body(sku=f"  {sku} ", name="  Red bowl\t", on_hand=...))

    assert resp.status == 201, resp.body
    assert (resp.body["sku"], resp.body["name"], resp.body["on_hand"]) == (sku, "Red bowl", 0)


def test_create_of_an_existing_sku_is_a_conflict(api: JsonClient) -> None:
    product = make_product()

    resp = api.post(PRODUCTS, product_body(sku=product.sku, name="Other"))

    assert resp.status == 409
    assert resp.body == {"error": "conflict", "detail": f"Product '{product.sku}' already exists."}
    assert Product.objects.get(sku=product.sku).name == "Blue mug"


def test_get_answers_the_product_as_created(api: JsonClient) -> None:
    created = api.post(PRODUCTS, product_body()).body

    resp = api.get(product_path(created["sku"]))

    assert resp.status == 200
    assert resp.body == created


def test_get_of_an_unknown_sku_is_a_product_404(api: JsonClient) -> None:
    resp = api.get(product_path("SKU-nope"))

    assert resp.status == 404
    assert resp.body == {"error": "not_found", "detail": "Product 'SKU-nope' not found."}


def test_sku_segment_is_percent_decoded_even_when_it_could_never_be_valid(
    api: JsonClient,
) -> None:
    resp = api.get(f"{PRODUCTS}no%20such%20thing/")

    assert resp.status == 404
    assert resp.body == {"error": "not_found", "detail": "Product 'no such thing' not found."}


@pytest.mark.parametrize(
    "path",
    [
        "/api/inventory/products",
        "/api/inventory/products/SKU-1",
        "/api/inventory/products/SKU-1/adjustments",
        "/api/inventory/products/SKU-1/other/",
        "/nothing/here/",
    ],
)
def test_unknown_urls_are_a_plain_404_without_redirect(api: JsonClient, path: str) -> None:
    resp = api.get(path)

    assert resp.status == 404
    assert resp.body == {"error": "not_found", "detail": "Not found."}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("DELETE", PRODUCTS),
        ("PUT", PRODUCTS),
        ("PATCH", "/api/inventory/products/SKU-1/"),
        ("POST", "/api/inventory/products/SKU-1/"),
        ("GET", "/api/inventory/products/SKU-1/adjustments/"),
        ("OPTIONS", PRODUCTS),
    ],
)
def test_unsupported_methods_on_known_paths_are_405(
    api: JsonClient, method: str, path: str
) -> None:
    resp = api.send(method, path, {})

    assert resp.status == 405
    assert resp.body == {"error": "method_not_allowed", "detail": f'Method "{method}" not allowed.'}


def test_head_answers_like_get_without_a_body(api: JsonClient) -> None:
    product = make_product()

    resp = api.head(product_path(product.sku))

    assert resp.status == 200
    assert resp.raw == b""
    assert resp.headers["Content-Type"] == "application/json"


def test_an_html_accept_header_still_gets_json(api: JsonClient) -> None:
    product = make_product()

    resp = api.get(product_path(product.sku), headers={"Accept": "text/html"})

    assert resp.status == 200
    assert resp.body["sku"] == product.sku


def test_adjustment_adds_to_on_hand_and_bumps_version(api: JsonClient) -> None:
    product = make_product(on_hand=10)

    resp = api.post(adjustments_path(product.sku), adjustment_body(delta=-4))

    assert resp.status == 200, resp.body
    assert list(resp.body) == PRODUCT_KEYS
    assert (resp.body["on_hand"], resp.body["available"], resp.body["version"]) == (6, 6, 2)
    assert resp.body["updated_at"] > resp.body["created_at"]
    assert Product.objects.get(sku=product.sku).version == 2


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ({"delta": 0, "reason": ""}, "application/json"),
        (b"{not json", "application/json"),
        (b"delta=1", "text/plain"),
    ],
)
def test_adjustment_of_an_unknown_sku_is_404_before_the_body_is_read(
    api: JsonClient, body: object, content_type: str
) -> None:
    raw = body if isinstance(body, bytes) else None
    resp = api.send(
        "POST",
        adjustments_path("SKU-missing"),
        None if raw else body,
        raw=raw,
        content_type=content_type,
    )

    assert resp.status == 404
    assert resp.body == {"error": "not_found", "detail": "Product 'SKU-missing' not found."}


def test_adjustment_below_what_is_reserved_is_insufficient_stock(api: JsonClient) -> None:
    product = make_product(on_hand=10)
    make_reservation([(product.sku, 4)])

    resp = api.post(adjustments_path(product.sku), adjustment_body(delta=-7))

    assert resp.status == 409
    assert resp.body == {
        "error": "insufficient_stock",
        "detail": "Insufficient stock.",
        "shortages": [{"sku": product.sku, "requested": 7, "available": 6}],
    }
    row = Product.objects.get(sku=product.sku)
    assert (row.on_hand, row.reserved, row.version) == (10, 4, 2)


def test_adjustment_down_to_exactly_what_is_reserved_is_allowed(api: JsonClient) -> None:
    product = make_product(on_hand=10)
    make_reservation([(product.sku, 4)])

    resp = api.post(adjustments_path(product.sku), adjustment_body(delta=-6))

    assert resp.status == 200
    assert (resp.body["on_hand"], resp.body["reserved"], resp.body["available"]) == (4, 4, 0)


def test_adjustment_past_the_largest_stock_figure_is_refused_not_a_crash(
    api: JsonClient,
) -> None:
    product = make_product(on_hand=MAX_STOCK - 5)

    resp = api.post(adjustments_path(product.sku), adjustment_body(delta=6))

    assert resp.status == 400
    assert resp.body == {
        "error": "validation_error",
        "detail": "Invalid input.",
        "fields": {"delta": ["Ensure this value is less than or equal to 5."]},
    }
    assert Product.objects.get(sku=product.sku).version == 1
