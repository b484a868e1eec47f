"""The orders service's side of reverse sync, as a real process (uvicorn, PostgreSQL) with its real
upstreams (the monolith's payments, the inventory service): frozen writes answer 503 before
anything is asked upstream (dry runs too); its own order events are recorded ``skipped`` unless
it is the source; a saga taken before a freeze ends while frozen, its order event pending, and
is reported in flight until then (the drain's question); the saga's upstreams are reported."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from extracted.chassis.web.db import make_engine, make_sessions
from extracted.orders.models import OutboxEvent
from tests.support.orders_stack import (
    ORDERS,
    OrdersProcess,
    Upstreams,
    checkout_body,
    orders_deployment,
    orders_of,
)
from tests.support.waiting import wait_for

DIRECTION = "/internal/sync/direction"


@pytest.fixture(scope="module")
def deployment(upstreams: Upstreams) -> Iterator[tuple[OrdersProcess, str]]:
    """One orders process and its database.
    Its saga lease outlasts the slow card below (3 s): with the suite's 3 s lease the recovery
    loop would take that saga over mid-payment and the checkout would answer 503."""
    with orders_deployment(upstreams) as running:
        process = running.start(ORDERS_SAGA_LEASE_S="30")
        yield process, running.database_url


@pytest.fixture
def orders(deployment: tuple[OrdersProcess, str]) -> Iterator[OrdersProcess]:
    """The process, forward again after each test."""
    process = deployment[0]
    yield process
    _set(process, "forward")


def _set(orders: OrdersProcess, direction: str) -> None:
    answer = httpx.put(
        f"{orders.orders_url}{DIRECTION}",
        json={"direction": direction},
        headers=orders.sync_auth,
        timeout=10,
    )
    assert (answer.status_code, answer.json()["direction"]) == (200, direction)


def _events(database_url: str, order_id: str) -> list[OutboxEvent]:
    engine = make_engine(database_url)
    try:
        with make_sessions(engine)() as session:
            query = select(OutboxEvent).where(OutboxEvent.aggregate_id == order_id)
            return list(session.scalars(query.order_by(OutboxEvent.seq)))
    finally:
        engine.dispose()


def _tail(orders: OrdersProcess) -> dict[str, Any]:
    body: dict[str, Any] = httpx.get(f"{orders.orders_url}/internal/sync/outbox", timeout=10).json()
    return body


def test_while_forward_its_order_events_are_born_skipped(
    upstreams: Upstreams, orders: OrdersProcess, deployment: tuple[OrdersProcess, str]
) -> None:
    product = upstreams.product(on_hand=5)
    me = upstreams.auth(uuid.uuid4())
    with orders.client() as http:
        placed = http.post(ORDERS, json=checkout_body([(product["sku"], 1)]), headers=me)
        assert placed.status_code == 201, placed.text
        [event] = _events(deployment[1], placed.json()["id"])
        assert (event.origin, event.skipped, event.published_at is not None) == (
            "orders",
            True,
            True,
        )
        assert http.get("/internal/sync/upstreams").json() == {
            "upstreams": {"inventory": upstreams.proxy_url, "payments": upstreams.proxy_url}
        }


def test_frozen_writes_answer_503_before_anything_is_asked_upstream(
    upstreams: Upstreams, orders: OrdersProcess
) -> None:
    product = upstreams.product(on_hand=5)
    customer = uuid.uuid4()
    me = upstreams.auth(customer)
    with orders.client() as http:
        order = http.post(ORDERS, json=checkout_body([(product["sku"], 1)]), headers=me).json()
        _set(orders, "frozen")
        refused = [
            http.post(ORDERS, json=checkout_body([(product["sku"], 1)]), headers=me),
            http.post(
                ORDERS,
                json=checkout_body([(product["sku"], 1)]),
                headers={**me, "X-Strangler-Dry-Run": "1"},
            ),
            http.post(f"{ORDERS}{order['id']}/cancel/", headers=me),
            http.post(f"{ORDERS}{order['id']}/fulfil/", headers=upstreams.staff()),
        ]
        assert [(r.status_code, r.headers.get("retry-after")) for r in refused] == [(503, "1")] * 4
        assert {r.json()["error"] for r in refused} == {"unavailable"}
        # Nothing reserved, charged or stored beyond the first order.
        assert upstreams.stock(product["sku"])["reserved"] == 1
        assert len(upstreams.payments_of(customer)) == 1
        assert [o["id"] for o in orders_of(http, me)] == [order["id"]]
        # The staff-only rule still answers first, as in the monolith.
        assert http.post(f"{ORDERS}{order['id']}/fulfil/", headers=me).status_code == 403
        _set(orders, "forward")
        assert http.post(f"{ORDERS}{order['id']}/cancel/", headers=me).status_code == 200


def test_a_saga_taken_before_the_freeze_ends_while_frozen_and_is_sent_back(
    upstreams: Upstreams, orders: OrdersProcess, deployment: tuple[OrdersProcess, str]
) -> None:
    _set(orders, "reverse")
    product = upstreams.product(on_hand=5)
    me = upstreams.auth(uuid.uuid4())
    answers: list[httpx.Response] = []
    slow = checkout_body([(product["sku"], 1)], card_token="tok_slow_3000")

    def checkout() -> None:
        with orders.client() as http:
            answers.append(http.post(ORDERS, json=slow, headers=me))

    client = threading.Thread(target=checkout)
    client.start()
    try:
        wait_for(lambda: _tail(orders)["in_flight"] == 1, message="the saga in flight")
        _set(orders, "frozen")  # waits for no saga: it was taken, and it ends while frozen
        assert _tail(orders)["in_flight"] == 1
    finally:
        client.join(timeout=30)
    [answer] = answers
    assert answer.status_code == 201, answer.text
    assert _tail(orders)["in_flight"] == 0
    [event] = _events(deployment[1], answer.json()["id"])
    assert (event.skipped, event.published_at) == (False, None)  # pending: the relay sends it
    tail = _tail(orders)
    assert tail["pending"] == 1 and tail["oldest_pending_age_s"] is not None
    with orders.client() as http:
        late = http.post(ORDERS, json=checkout_body([(product["sku"], 1)]), headers=me)
        assert late.status_code == 503
