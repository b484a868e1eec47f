"""The product listing: byte-order sorting, page sizes, and DRF's absolute links."""

from __future__ import annotations

import pytest

from tests.extracted.asgi_client import BlockingASGIClient
from tests.extracted.inventory.api.helpers import create_product
from tests.support.inventory_api import PRODUCTS
from tests.support.random_refs import random_suffix


@pytest.fixture
def five_skus(client: BlockingASGIClient) -> list[str]:
    tag = random_suffix()
    skus = [f"a{tag}", f"B{tag}", f"_{tag}", f"Z{tag}", f"0{tag}"]
    for sku in skus:
        create_product(client, sku=sku)
    return sorted(skus, key=lambda s: s.encode())


def test_products_are_listed_in_byte_order(
    client: BlockingASGIClient, five_skus: list[str]
) -> None:
    page = client.get(f"{PRODUCTS}?page_size=500").json()
    assert page["count"] == 5
    assert [p["sku"] for p in page["results"]] == five_skus
    assert five_skus[0].startswith("0") and five_skus[-1].startswith("a")


def test_links_follow_drf(client: BlockingASGIClient, five_skus: list[str]) -> None:
    host = {"Host": "shop.example:8080"}
    first = client.get(f"{PRODUCTS}?page_size=2&b=2&a=1", headers=host).json()
    assert (
        first["next"]
        == "http://shop.example:8080/api/inventory/products/?a=1&b=2&page=2&page_size=2"
    )
    assert first["previous"] is None
    second = client.get(f"{PRODUCTS}?page=2&page_size=2&q=%20x+y", headers=host).json()
    assert [p["sku"] for p in second["results"]] == five_skus[2:4]
    assert (
        second["previous"] == "http://shop.example:8080/api/inventory/products/?page_size=2&q=+x+y"
    )
    assert (
        second["next"]
        == "http://shop.example:8080/api/inventory/products/?page=3&page_size=2&q=+x+y"
    )
    last = client.get(f"{PRODUCTS}?page=last&page_size=2", headers=host).json()
    assert last["next"] is None
    assert last["previous"] == "http://shop.example:8080/api/inventory/products/?page=2&page_size=2"
    assert [p["sku"] for p in last["results"]] == five_skus[4:]


@pytest.mark.parametrize(
    ("query", "size"),
    [
        ("", 5),
        ("?page_size=0", 5),
        ("?page_size=x", 5),
        ("?page_size=-3", 5),
        ("?page_size=1000", 5),
        ("?page_size=3", 3),
    ],
)
def test_page_size_is_clamped_or_defaulted(
    client: BlockingASGIClient, five_skus: list[str], query: str, size: int
) -> None:
    assert len(client.get(f"{PRODUCTS}{query}").json()["results"]) == size


@pytest.mark.parametrize("page", ["0", "-1", "abc", "1.0", "4"])
def test_invalid_pages_are_404(client: BlockingASGIClient, five_skus: list[str], page: str) -> None:
    resp = client.get(f"{PRODUCTS}?page_size=2&page={page}")
    assert (resp.status_code, resp.json()) == (
        404,
        {"error": "not_found", "detail": "Invalid page."},
    )


def test_an_empty_listing_is_one_empty_page(client: BlockingASGIClient) -> None:
    assert client.get(PRODUCTS).json() == {
        "count": 0,
        "next": None,
        "previous": None,
        "results": [],
    }
    assert client.get(f"{PRODUCTS}?page=2").status_code == 404
