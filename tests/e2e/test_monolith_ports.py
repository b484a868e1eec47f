"""Branch by abstraction end to end (docs/branch-by-abstraction.md): the monolith keeps the
orders while inventory, payments or both have moved to their services, and its checkout, cancel
and fulfil reach them through the real proxy (remote adapters) or in process, as each
capability's direction says, switched with the CLI and no restart. After each, once sync has
run both ways, both owners hold the same stock, reservations and payments, and the books
balance: every confirmed order holds one captured payment and its pending reservation, no
cancelled order keeps a charge, the stock reserved is what the confirmed orders hold."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.support.monolith_ports_stack import (
    ORDERS,
    PortsStack,
    checkout_body,
    order_path,
    running_ports_stack,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[PortsStack]:
    with running_ports_stack(tmp_path_factory.mktemp("ports"), redis_url) as running:
        yield running


@pytest.mark.parametrize(
    ("inventory", "payments"),
    [("forward", "reverse"), ("reverse", "reverse"), ("reverse", "forward")],
)
def test_checkout_cancel_and_fulfil_on_the_monolith_balance_the_books(
    rig: PortsStack, inventory: str, payments: str
) -> None:
    rig.ensure(inventory=inventory, payments=payments)
    [buyer] = rig.customers(1)
    staff = rig.staff()
    sku = rig.product(price="4.00", on_hand=5)
    with httpx.Client(base_url=rig.monolith_url, timeout=60) as monolith:

        def checkout(quantity: int, card: str = "tok_visa") -> httpx.Response:
            return monolith.post(
                ORDERS, json=checkout_body([(sku, quantity)], card), headers=buyer.headers
            )

        kept, cancelled, shipped = (checkout(1) for _ in range(3))
        for placed in (kept, cancelled, shipped):
            assert (placed.status_code, placed.json()["status"]) == (201, "confirmed")
        # An Idempotency-Key: the repeat replays the first answer (one order, one charge).
        keyed = {**buyer.headers, "Idempotency-Key": f"bba-{inventory}-{payments}"}
        body = checkout_body([(sku, 1)], "tok_decline_insufficient_funds")
        first = monolith.post(ORDERS, json=body, headers=keyed)
        again = monolith.post(ORDERS, json=body, headers=keyed)
        assert (first.status_code, again.status_code) == (402, 402), first.text
        assert (again.json(), again.headers.get("Idempotent-Replayed")) == (first.json(), "true")
        declined = checkout(1, "tok_decline_stolen_card")
        assert declined.status_code == 402, declined.text
        assert (declined.json()["reason"], declined.json()["order"]["cancel_reason"]) == (
            "stolen_card",
            "payment_declined",
        )
        failed = checkout(1, "tok_error")
        assert failed.status_code == 502, failed.text
        assert failed.json()["order"]["cancel_reason"] == "payment_error"
        short = checkout(3)  # 3 of the 5 are held by the three confirmed orders
        assert short.status_code == 409, short.text
        assert short.json()["shortages"] == [{"sku": sku, "requested": 3, "available": 2}]
        assert short.json()["order"]["cancel_reason"] == "insufficient_stock"

        done = monolith.post(order_path(cancelled.json()["id"], "cancel"), headers=buyer.headers)
        assert (done.status_code, done.json()["status"]) == (200, "cancelled"), done.text
        done = monolith.post(order_path(shipped.json()["id"], "fulfil"), headers=staff)
        assert (done.status_code, done.json()["status"]) == (200, "fulfilled"), done.text
        # A shipped order's stock cannot come back: the owner's refusal is relayed.
        refused = monolith.post(order_path(shipped.json()["id"], "cancel"), headers=buyer.headers)
        assert refused.status_code == 409, refused.text

    assert rig.books(buyer, [sku]) == []
    with httpx.Client(base_url=rig.monolith_url, timeout=10) as monolith:
        product = monolith.get(f"/api/inventory/products/{sku}/").json()
        orders = monolith.get(ORDERS, headers=buyer.headers).json()["results"]
    assert (product["on_hand"], product["reserved"]) == (4, 1)  # one shipped, one held
    assert sorted(o["status"] for o in orders) == [
        "cancelled",  # declined, with a key (once)
        "cancelled",  # by the customer
        "cancelled",  # declined
        "cancelled",  # gateway error
        "cancelled",  # short of stock
        "confirmed",
        "fulfilled",
    ]
