"""Crash injection: the orders process (uvicorn, real PostgreSQL) is SIGKILLed at each step of a
saga (``ORDERS_CRASH_AT``, extracted/orders/crash.py), started again without it, and then stock,
payments and the order must agree: every checkout either completed (one charge, the stock
reserved once, the order confirmed) or was compensated (no charge kept, no reservation left,
the order cancelled with its reason). Never a charge without an order, never a reservation left.
"""

from __future__ import annotations

import signal
import uuid

import httpx
import pytest

from tests.support.orders_stack import (
    ORDERS,
    OrdersDeployment,
    Upstreams,
    checkout_body,
    order_path,
    wait_for_order,
)
from tests.support.waiting import wait_for

pytestmark = pytest.mark.slow


def _crash_checkout(
    deployment: OrdersDeployment, headers: dict[str, str], body: dict[str, object], point: str
) -> None:
    """Send the checkout to a process that dies at ``point``; the client gets no answer."""
    doomed = deployment.start(ORDERS_CRASH_AT=point)
    with doomed.client() as http, pytest.raises(httpx.TransportError):
        http.post(ORDERS, json=body, headers=headers)
    assert doomed.wait_killed() == -signal.SIGKILL


@pytest.mark.parametrize(
    "point", ["before_reserve", "after_reserve", "after_charge", "after_confirm"]
)
def test_a_checkout_killed_at_any_step_completes_after_restart(
    upstreams: Upstreams, deployment: OrdersDeployment, point: str
) -> None:
    product = upstreams.product(price="7.00", on_hand=5)
    customer = uuid.uuid4()
    me = upstreams.auth(customer)
    _crash_checkout(deployment, me, checkout_body([(product["sku"], 2)]), point)

    with deployment.start().client() as http:
        order = wait_for_order(http, me, status="confirmed")
    assert (order["total"], order["version"]) == ("14.00", 1)
    stock = upstreams.stock(product["sku"])
    assert (stock["on_hand"], stock["reserved"]) == (5, 2)  # reserved once, not twice
    payments = upstreams.payments_of(customer)
    assert [(p["id"], p["status"], p["amount"]) for p in payments] == [
        (order["payment_id"], "captured", "14.00")  # charged once, and it is the order's
    ]


@pytest.mark.parametrize("point", ["before_compensate", "after_release"])
def test_a_declined_checkout_killed_while_compensating_releases_after_restart(
    upstreams: Upstreams, deployment: OrdersDeployment, point: str
) -> None:
    product = upstreams.product(on_hand=5)
    customer = uuid.uuid4()
    me = upstreams.auth(customer)
    body = checkout_body([(product["sku"], 3)], "tok_decline_stolen_card")
    _crash_checkout(deployment, me, body, point)

    with deployment.start().client() as http:
        order = wait_for_order(http, me, status="cancelled")
        assert order["cancel_reason"] == "payment_declined"

        def released() -> bool:
            return upstreams.stock(product["sku"])["reserved"] == 0

        wait_for(released, message="the reservation released")
        active = http.get("/internal/sagas/stuck").json()
        assert active["count"] == 0
    assert [p["status"] for p in upstreams.payments_of(customer)] == ["declined"]


@pytest.mark.parametrize("point", ["after_cancel_release", "after_refund"])
def test_a_cancel_killed_midway_completes_after_restart(
    upstreams: Upstreams, deployment: OrdersDeployment, point: str
) -> None:
    product = upstreams.product(price="3.00", on_hand=5)
    customer = uuid.uuid4()
    me = upstreams.auth(customer)
    with deployment.start().client() as http:
        placed = http.post(ORDERS, json=checkout_body([(product["sku"], 1)]), headers=me)
        assert placed.status_code == 201, placed.text
    deployment.started[-1].stop()
    order_id = placed.json()["id"]

    doomed = deployment.start(ORDERS_CRASH_AT=point)
    with doomed.client() as http, pytest.raises(httpx.TransportError):
        http.post(order_path(order_id, "cancel"), headers=me)
    assert doomed.wait_killed() == -signal.SIGKILL

    with deployment.start().client() as http:
        order = wait_for_order(http, me, status="cancelled")
    assert (order["cancel_reason"], order["version"]) == ("cancelled_by_customer", 2)
    assert upstreams.stock(product["sku"])["reserved"] == 0
    [payment] = upstreams.payments_of(customer)
    assert (payment["status"], payment["refunded_amount"], len(payment["refunds"])) == (
        "refunded",
        "3.00",
        1,  # refunded once, whatever the crash
    )
