"""The crash matrix of the monolith's remote order writes (branch by abstraction,
docs/branch-by-abstraction.md): with inventory and payments owned by their services, the
monolith (gunicorn, every process of it) is SIGKILLed at each step of a checkout, of its
compensation, of a cancel and of a fulfil (``MONOLITH_ORDERS_CRASH_AT``,
monolith/orders/crash.py), started again without it, and its recovery pass must leave the books
balanced on both owners: no captured payment without a confirmed order, no stock held for an
order that is not confirmed. The orders service's own matrix is test_orders_crash.py.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.monolith_ports_stack import (
    ORDERS,
    Customer,
    PortsStack,
    checkout_body,
    order_path,
    running_ports_stack,
)
from tests.support.waiting import wait_for

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[PortsStack]:
    with running_ports_stack(
        tmp_path_factory.mktemp("crash"),
        redis_url,
        # Short leases and pauses, so the restarted monolith recovers within seconds.
        MONOLITH_ORDERS_LEASE_S="2",
        MONOLITH_ORDERS_RECOVERY_INTERVAL_S="0.2",
    ) as running:
        running.ensure(inventory="reverse", payments="reverse")
        yield running


def _crash(rig: PortsStack, point: str, path: str, headers: dict[str, str], body: Any) -> None:
    """Send the write to a monolith that dies at ``point``: no answer; then start it again."""
    rig.monolith().stop()
    doomed = rig.start_monolith(MONOLITH_ORDERS_CRASH_AT=point)
    with (
        httpx.Client(base_url=rig.monolith_url, timeout=60) as http,
        pytest.raises(httpx.TransportError),
    ):
        http.post(path, json=body, headers=headers)
    assert doomed.proc is not None
    assert doomed.proc.wait(timeout=20) == -signal.SIGKILL
    rig.start_monolith()


def _orders(rig: PortsStack, buyer: Customer) -> list[dict[str, Any]]:
    answer = httpx.get(f"{rig.monolith_url}{ORDERS}", headers=buyer.headers, timeout=10)
    assert answer.status_code == 200, answer.text
    return list(answer.json()["results"])


def _payments(rig: PortsStack, buyer: Customer) -> list[dict[str, Any]]:
    answer = httpx.get(f"{rig.payments_url}/api/payments/", headers=buyer.headers, timeout=10)
    assert answer.status_code == 200, answer.text
    return list(answer.json()["results"])


def _balanced(rig: PortsStack, buyer: Customer, sku: str) -> None:
    wait_for(lambda: rig.books(buyer, [sku]) == [], timeout=60, message="the books to balance")


@pytest.mark.parametrize("point", ["before_reserve", "after_reserve", "after_charge"])
def test_a_checkout_killed_before_its_order_is_stored_is_compensated(
    rig: PortsStack, point: str
) -> None:
    [buyer] = rig.customers(1)
    sku = rig.product(price="7.00", on_hand=5)
    _crash(rig, point, ORDERS, buyer.headers, checkout_body([(sku, 2)]))
    _balanced(rig, buyer, sku)
    assert _orders(rig, buyer) == []  # the client never had an answer: no order
    # Charged (after_charge) then given back by the recovery; otherwise never charged.
    expected = ["refunded"] if point == "after_charge" else []
    wait_for(lambda: [p["status"] for p in _payments(rig, buyer)] == expected, timeout=30)


def test_a_checkout_killed_after_its_order_committed_keeps_it(rig: PortsStack) -> None:
    [buyer] = rig.customers(1)
    sku = rig.product(price="7.00", on_hand=5)
    _crash(rig, "after_confirm", ORDERS, buyer.headers, checkout_body([(sku, 2)]))
    _balanced(rig, buyer, sku)
    [order] = _orders(rig, buyer)
    assert (order["status"], order["total"]) == ("confirmed", "14.00")
    assert [(p["id"], p["status"]) for p in _payments(rig, buyer)] == [
        (order["payment_id"], "captured")  # charged once, and it is the order's
    ]


@pytest.mark.parametrize("point", ["before_compensate", "after_release"])
def test_a_declined_checkout_killed_while_compensating_releases_after_restart(
    rig: PortsStack, point: str
) -> None:
    [buyer] = rig.customers(1)
    sku = rig.product(on_hand=5)
    body = checkout_body([(sku, 3)], "tok_decline_stolen_card")
    _crash(rig, point, ORDERS, buyer.headers, body)
    _balanced(rig, buyer, sku)
    [order] = _orders(rig, buyer)
    assert (order["status"], order["cancel_reason"]) == ("cancelled", "payment_declined")
    assert [p["status"] for p in _payments(rig, buyer)] == ["declined"]


@pytest.mark.parametrize(
    ("action", "point", "status"),
    [
        ("cancel", "after_cancel_release", "cancelled"),
        ("cancel", "after_refund", "cancelled"),
        ("fulfil", "after_commit", "fulfilled"),
    ],
)
def test_a_cancel_or_fulfil_killed_midway_completes_after_restart(
    rig: PortsStack, action: str, point: str, status: str
) -> None:
    [buyer] = rig.customers(1)
    sku = rig.product(price="3.00", on_hand=5)
    placed = httpx.post(
        f"{rig.monolith_url}{ORDERS}",
        json=checkout_body([(sku, 1)]),
        headers=buyer.headers,
        timeout=60,
    )
    assert placed.status_code == 201, placed.text
    order_id = placed.json()["id"]
    headers = rig.staff() if action == "fulfil" else buyer.headers
    _crash(rig, point, order_path(order_id, action), headers, None)

    def settled() -> bool:
        return [o["status"] for o in _orders(rig, buyer)] == [status]

    wait_for(settled, timeout=60, message=f"the order {status} by the recovery")
    _balanced(rig, buyer, sku)
    [order] = _orders(rig, buyer)
    assert order["version"] == 2  # one write of the order, whatever the crash
    [payment] = _payments(rig, buyer)
    if action == "cancel":
        assert (payment["status"], payment["refunded_amount"], len(payment["refunds"])) == (
            "refunded",
            "3.00",
            1,  # refunded once, whatever the crash
        )
    else:
        assert payment["status"] == "captured"
