"""The product listing's pages: size, links built from the Host header (or the public origin),
`last`, bad pages."""

from __future__ import annotations

import pytest
from pytest_django.fixtures import Settings

from monolith.inventory.seeding import seed_products
from tests.monolith.api_client import JsonClient
from tests.monolith.factories import make_product
from tests.support.inventory_api import PRODUCTS
from tests.support.random_refs import random_suffix

pytestmark = pytest.mark.django_db


def _skus(count: int) -> list[str]:
    prefix = f"P{random_suffix()}"
    skus = [f"{prefix}-{i:02d}" for i in range(count)]
    for sku in skus:
        make_product(sku=sku)
    return skus


def test_pages_hold_page_size_rows_with_absolute_links_from_the_host(
    api: JsonClient, settings: Settings
) -> None:
    settings.ALLOWED_HOSTS = ["shop.example"]
    skus = _skus(7)

    first = api.get(f"{PRODUCTS}?page_size=3", HTTP_HOST="shop.example:8443")
    second = api.get(f"{PRODUCTS}?page=2&page_size=3", HTTP_HOST="shop.example:8443")

    assert first.status == 200
    assert list(first.body) == ["count", "next", "previous", "results"]
    assert first.body["count"] == 7
    assert [row["sku"] for row in first.body["results"]] == skus[:3]
    assert (
        first.body["next"] == "http://shop.example:8443/api/inventory/products/?page=2&page_size=3"
    )
    assert first.body["previous"] is None
    assert [row["sku"] for row in second.body["results"]] == skus[3:6]
    # previous of page 2 has no page parameter at all
    assert second.body["previous"] == "http://shop.example:8443/api/inventory/products/?page_size=3"
    assert (
        second.body["next"] == "http://shop.example:8443/api/inventory/products/?page=3&page_size=3"
    )


def test_links_name_the_public_origin_when_one_is_set(api: JsonClient, settings: Settings) -> None:
    settings.PUBLIC_ORIGIN = "https://shop.example"
    _skus(4)
    page = api.get(f"{PRODUCTS}?page=2&page_size=2", HTTP_HOST="localhost:8000").body
    assert page["previous"] == "https://shop.example/api/inventory/products/?page_size=2"
    assert page["next"] is None


def test_links_reencode_the_query_sorted_like_drf(api: JsonClient) -> None:
    _skus(3)

    resp = api.get(f"{PRODUCTS}?zeta=1&page_size=1&alpha=x%20y&empty=&page=2")

    assert resp.body["next"] == (
        "http://testserver/api/inventory/products/?alpha=x+y&empty=&page=3&page_size=1&zeta=1"
    )
    assert resp.body["previous"] == (
        "http://testserver/api/inventory/products/?alpha=x+y&empty=&page_size=1&zeta=1"
    )


def test_page_last_is_the_last_page(api: JsonClient) -> None:
    skus = _skus(7)

    resp = api.get(f"{PRODUCTS}?page=last&page_size=3")

    assert resp.status == 200
    assert [row["sku"] for row in resp.body["results"]] == skus[6:]
    assert resp.body["next"] is None
    assert resp.body["previous"] == "http://testserver/api/inventory/products/?page=2&page_size=3"


@pytest.mark.parametrize("page", ["4", "0", "-1", "abc", "1.5"])
def test_an_invalid_page_is_a_404(api: JsonClient, page: str) -> None:
    _skus(7)

    resp = api.get(f"{PRODUCTS}?page={page}&page_size=3")

    assert resp.status == 404
    assert resp.body == {"error": "not_found", "detail": "Invalid page."}


def test_an_empty_listing_is_one_empty_page(api: JsonClient) -> None:
    resp = api.get(PRODUCTS)

    assert resp.status == 200
    assert resp.body == {"count": 0, "next": None, "previous": None, "results": []}


@pytest.mark.parametrize(
    ("asked", "served"), [("1000", 500), ("500", 500), ("0", 50), ("-3", 50), ("x", 50), ("", 50)]
)
def test_page_size_defaults_to_50_and_is_clamped_to_500(
    api: JsonClient, asked: str, served: int
) -> None:
    seed_products(count=501, seed=1)

    resp = api.get(f"{PRODUCTS}?page_size={asked}")

    assert resp.body["count"] == 501
    assert len(resp.body["results"]) == served


def test_listing_is_in_byte_order_of_sku(api: JsonClient) -> None:
    suffix = random_suffix()
    skus = [f"{s}{suffix}" for s in ("b", "B", "a", "_", "0", "A-", "a.", "Z")]
    for sku in skus:
        make_product(sku=sku)

    resp = api.get(f"{PRODUCTS}?page_size=500")

    listed = [row["sku"] for row in resp.body["results"]]
    assert listed == sorted(skus, key=lambda s: s.encode())
    assert listed == sorted(skus)  # byte order of ASCII is Python's str order


def test_the_sku_column_itself_has_the_byte_order_collation() -> None:
    # The server's default collation may already be byte order (C.UTF-8 here); the column must not
    # depend on it.
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT collation_name FROM information_schema.columns "
                "WHERE table_name = 'inventory_product' AND column_name = 'sku'"
            )
            assert cursor.fetchone() == ("C",)
        else:
            cursor.execute("SELECT sql FROM sqlite_master WHERE name = 'inventory_product'")
            assert '"sku" varchar(64) COLLATE BINARY' in cursor.fetchone()[0]
