"""An upstream of the orders service down behind the façade (the saga calls through the proxy,
whose route sends the calls to an owner that refuses connections or never answers): checkout
answers a clear 503 and leaves nothing half-done; once the breaker is open it fails fast without
touching anything; a compensation that keeps failing shows as a stuck saga (endpoint and metric)
and completes once the route leads to a live owner again, with no restart.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.support.orders_stack import ORDERS, OrdersDeployment, Upstreams, checkout_body
from tests.support.waiting import wait_for

pytestmark = pytest.mark.slow


def _metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in the metrics")


def test_payments_down_is_a_503_with_the_reservation_undone_then_fails_fast(
    upstreams: Upstreams, deployment: OrdersDeployment
) -> None:
    product = upstreams.product(on_hand=5)
    customer = uuid.uuid4()
    me = upstreams.auth(customer)
    upstreams.set_route("payments-writes", mode="extracted", target="nowhere")
    service = deployment.start(ORDERS_BREAKER_FAILURES="3")
    with service.client() as http:
        first = http.post(ORDERS, json=checkout_body([(product["sku"], 2)]), headers=me)
        assert first.status_code == 503, first.text
        assert first.json() == {
            "error": "service_unavailable",
            "detail": "The payments service is unavailable; nothing was ordered.",
            "upstream": "payments",
        }
        after_first = upstreams.stock(product["sku"])
        assert after_first["reserved"] == 0  # reserved, then released before the answer
        metrics = http.get("/metrics").text
        assert _metric(metrics, 'orders_upstream_breaker_open{upstream="payments"}') == 1.0

        second = http.post(ORDERS, json=checkout_body([(product["sku"], 2)]), headers=me)
        assert (second.status_code, second.json()["upstream"]) == (503, "payments")
        # The open breaker refused before anything was sent: inventory saw nothing at all.
        assert upstreams.stock(product["sku"])["version"] == after_first["version"]
        assert http.get(ORDERS, headers=me).json()["count"] == 0
        assert http.get("/internal/sagas/stuck").json()["count"] == 0


def test_inventory_down_is_a_503_with_nothing_done(
    upstreams: Upstreams, deployment: OrdersDeployment
) -> None:
    product = upstreams.product(on_hand=5)
    customer = uuid.uuid4()
    me = upstreams.auth(customer)
    upstreams.set_route("inventory-writes", target="nowhere")  # reads still answered
    service = deployment.start(ORDERS_BREAKER_FAILURES="2")
    with service.client() as http:
        for _ in range(3):  # the second and third find the breaker open
            answer = http.post(ORDERS, json=checkout_body([(product["sku"], 1)]), headers=me)
            assert answer.status_code == 503, answer.text
            assert answer.json()["detail"] == (
                "The inventory service is unavailable; nothing was ordered."
            )
        metrics = http.get("/metrics").text
        assert _metric(metrics, 'orders_upstream_breaker_open{upstream="inventory"}') == 1.0
        assert http.get(ORDERS, headers=me).json()["count"] == 0
    assert upstreams.payments_of(customer) == []
    assert upstreams.stock(product["sku"])["reserved"] == 0


def test_a_compensation_that_keeps_failing_is_stuck_until_payments_is_back(
    upstreams: Upstreams, deployment: OrdersDeployment
) -> None:
    product = upstreams.product(price="4.00", on_hand=5)
    customer = uuid.uuid4()
    me = upstreams.auth(customer)
    upstreams.set_route("payments-writes", mode="extracted", target="blackhole")
    service = deployment.start(
        ORDERS_READ_TIMEOUT_S="0.5",
        ORDERS_RETRY_ATTEMPTS="1",
        ORDERS_BREAKER_FAILURES="1000",  # keep sending: each try times out, none is refused
        ORDERS_STUCK_AFTER_ATTEMPTS="2",
    )
    with service.client() as http:
        answer = http.post(ORDERS, json=checkout_body([(product["sku"], 1)]), headers=me)
        assert (answer.status_code, answer.json()["upstream"]) == (503, "payments")

        def stuck() -> list[dict[str, Any]]:
            return list(http.get("/internal/sagas/stuck").json()["results"])

        [saga] = wait_for(stuck, message="the saga listed as stuck")
        # The charge may have happened (sent, no answer): until payments says, nothing is undone
        # behind it, and the reservation is still held.
        assert (saga["state"], saga["payment_outcome"], saga["reservation_outcome"]) == (
            "compensating",
            "unknown",
            "held",
        )
        assert saga["attempts"] >= 2 and "payments" in str(saga["last_error"])
        assert _metric(http.get("/metrics").text, "orders_sagas_stuck") == 1.0
        assert upstreams.stock(product["sku"])["reserved"] == 1

        # The route leads to payments' owner again (the monolith): with no restart, the
        # recovery loop resolves the charge and undoes it all.
        upstreams.set_route("payments-writes", mode="monolith")
        wait_for(lambda: http.get("/internal/sagas/stuck").json()["count"] == 0, message="unstuck")
        wait_for(lambda: upstreams.stock(product["sku"])["reserved"] == 0, message="stock released")
        assert _metric(http.get("/metrics").text, "orders_sagas_stuck") == 0.0
        assert http.get(ORDERS, headers=me).json()["count"] == 0
    # The blackhole never passed the charge on; resolving it charged once, and that was refunded.
    assert [p["status"] for p in upstreams.payments_of(customer)] in ([], ["refunded"])
