"""The saga calls inventory and payments through the façade (the proxy's public port), as real
processes: a route flip moves its calls at once, with no restart; a dry-run checkout stays a dry
run on the owners behind the proxy (nothing reserved, charged or kept)."""

from __future__ import annotations

import uuid

import httpx

from tests.support.inventory_api import PRODUCTS, product_body, product_path
from tests.support.orders_stack import ORDERS, OrdersProcess, Upstreams, checkout_body, orders_of


def _reserved(base_url: str, sku: str) -> int:
    answer = httpx.get(f"{base_url}{product_path(sku)}", timeout=10)
    assert answer.status_code == 200, answer.text
    reserved: int = answer.json()["reserved"]
    return reserved


def test_the_saga_follows_a_flip_of_the_inventory_routes_with_no_restart(
    upstreams: Upstreams, orders: OrdersProcess
) -> None:
    body = product_body(on_hand=10)  # the same product on both owners
    for base in (upstreams.monolith_url, upstreams.inventory_url):
        created = httpx.post(f"{base}{PRODUCTS}", json=body, headers=upstreams.staff(), timeout=10)
        assert created.status_code == 201, created.text
    sku = body["sku"]
    me = upstreams.auth(uuid.uuid4())
    routes = upstreams.routes_file.read_text(encoding="utf-8")
    try:
        with orders.client() as http:
            first = http.post(ORDERS, json=checkout_body([(sku, 1)]), headers=me)
            assert first.status_code == 201, first.text
            assert (
                _reserved(upstreams.inventory_url, sku),
                _reserved(upstreams.monolith_url, sku),
            ) == (1, 0)

            for name in ("inventory-reads", "inventory-writes"):
                upstreams.set_route(name, mode="monolith")
            second = http.post(ORDERS, json=checkout_body([(sku, 2)]), headers=me)
            assert second.status_code == 201, second.text
            assert (
                _reserved(upstreams.inventory_url, sku),
                _reserved(upstreams.monolith_url, sku),
            ) == (1, 2)
    finally:
        upstreams.restore_routes(routes)


def test_a_dry_run_checkout_stays_a_dry_run_behind_the_facade(
    upstreams: Upstreams, orders: OrdersProcess
) -> None:
    product = upstreams.product(on_hand=5)
    customer = uuid.uuid4()
    me = upstreams.auth(customer)
    with orders.client() as http:
        answer = http.post(
            ORDERS,
            json=checkout_body([(product["sku"], 2)]),
            headers={**me, "X-Strangler-Dry-Run": "1"},
        )
        assert answer.status_code == 201, answer.text
        assert answer.headers["X-Strangler-Dry-Run"] == "rolled-back"
        assert answer.json()["status"] == "confirmed"
        assert orders_of(http, me) == []
    stock = upstreams.stock(product["sku"])
    assert (stock["reserved"], stock["version"]) == (0, product["version"])
    assert upstreams.payments_of(customer) == []
