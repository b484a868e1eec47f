"""Checkout, cancel and fulfil through the orders service as a real process: stock reserved in the
inventory service, money in the monolith's payments endpoints, the saga's outcome in the order."""

from __future__ import annotations

import uuid

import pytest

from tests.support.orders_stack import (
    ORDERS,
    OrdersProcess,
    Upstreams,
    checkout_body,
    order_path,
)
from tests.support.random_refs import random_suffix

pytestmark = pytest.mark.slow


def test_checkout_reserves_charges_and_confirms(
    upstreams: Upstreams, orders: OrdersProcess
) -> None:
    product = upstreams.product(price="12.50", on_hand=5)
    other = upstreams.product(price="0.99", on_hand=5)
    customer = uuid.uuid4()
    me = upstreams.auth(customer)
    with orders.client() as http:
        lines = [(product["sku"], 2), (other["sku"], 1), (product["sku"], 1)]
        answer = http.post(
            ORDERS,
            json=checkout_body(lines),
            headers={**me, "X-Request-Id": "req-checkout-1"},
        )
        assert answer.status_code == 201, answer.text
        assert answer.headers["x-request-id"] == "req-checkout-1"
        order = answer.json()
        assert list(order) == [
            "id", "customer_id", "status", "cancel_reason", "lines", "total", "payment_id",
            "reservation_id", "version", "created_at", "updated_at",
        ]  # fmt: skip
        assert (order["status"], order["version"], order["total"]) == ("confirmed", 1, "38.49")
        assert [(x["sku"], x["quantity"], x["line_total"]) for x in order["lines"]] == sorted(
            [(product["sku"], 3, "37.50"), (other["sku"], 1, "0.99")]
        )
        assert upstreams.stock(product["sku"])["reserved"] == 3
        payments = upstreams.payments_of(customer)
        assert [(p["id"], p["status"], p["amount"], p["order_id"]) for p in payments] == [
            (order["payment_id"], "captured", "38.49", order["id"])
        ]
        assert http.get(order_path(order["id"]), headers=me).json() == order
        stranger = http.get(order_path(order["id"]), headers=upstreams.auth(uuid.uuid4()))
        assert stranger.status_code == 404
        assert stranger.json() == {
            "error": "not_found",
            "detail": f"Order '{order['id']}' not found.",
        }

        cancelled = http.post(order_path(order["id"], "cancel"), headers=me)
        assert cancelled.status_code == 200, cancelled.text
        assert (cancelled.json()["status"], cancelled.json()["cancel_reason"]) == (
            "cancelled",
            "cancelled_by_customer",
        )
        assert cancelled.json()["version"] == 2
        assert upstreams.stock(product["sku"])["reserved"] == 0
        refunded = upstreams.payments_of(customer)[0]
        assert (refunded["status"], refunded["refunded_amount"]) == ("refunded", "38.49")
        again = http.post(order_path(order["id"], "cancel"), headers=me)
        assert (again.status_code, again.json()["status"]) == (409, "cancelled")


def test_fulfil_is_staff_only_and_commits_the_stock(
    upstreams: Upstreams, orders: OrdersProcess
) -> None:
    product = upstreams.product(on_hand=4)
    customer = uuid.uuid4()
    me = upstreams.auth(customer)
    with orders.client() as http:
        order = http.post(ORDERS, json=checkout_body([(product["sku"], 3)]), headers=me).json()
        refused = http.post(order_path(order["id"], "fulfil"), headers=me)
        assert (refused.status_code, refused.json()["error"]) == (403, "permission_denied")
        fulfilled = http.post(order_path(order["id"], "fulfil"), headers=upstreams.staff())
        assert fulfilled.status_code == 200, fulfilled.text
        assert (fulfilled.json()["status"], fulfilled.json()["version"]) == ("fulfilled", 2)
        stock = upstreams.stock(product["sku"])
        assert (stock["on_hand"], stock["reserved"]) == (1, 0)
        cancel = http.post(order_path(order["id"], "cancel"), headers=me)
        assert cancel.json() == {
            "error": "invalid_state",
            "detail": "Order is fulfilled, expected confirmed.",
            "status": "fulfilled",
        }


def test_shortage_stores_a_cancelled_order_and_reserves_nothing(
    upstreams: Upstreams, orders: OrdersProcess
) -> None:
    plenty = upstreams.product(on_hand=10)
    scarce = upstreams.product(on_hand=1)
    customer = uuid.uuid4()
    with orders.client() as http:
        answer = http.post(
            ORDERS,
            json=checkout_body([(plenty["sku"], 2), (scarce["sku"], 2)]),
            headers=upstreams.auth(customer),
        )
        assert answer.status_code == 409, answer.text
        body = answer.json()
        assert (body["error"], body["shortages"]) == (
            "insufficient_stock",
            [{"sku": scarce["sku"], "requested": 2, "available": 1}],
        )
        order = body["order"]
        assert (order["status"], order["cancel_reason"], order["payment_id"]) == (
            "cancelled",
            "insufficient_stock",
            None,
        )
    assert upstreams.stock(plenty["sku"])["reserved"] == 0
    assert upstreams.payments_of(customer) == []


def test_a_decline_releases_the_reservation(upstreams: Upstreams, orders: OrdersProcess) -> None:
    product = upstreams.product(on_hand=3)
    customer = uuid.uuid4()
    with orders.client() as http:
        answer = http.post(
            ORDERS,
            json=checkout_body([(product["sku"], 1)], "tok_decline_insufficient_funds"),
            headers=upstreams.auth(customer),
        )
    assert answer.status_code == 402, answer.text
    body = answer.json()
    assert (body["error"], body["reason"]) == ("payment_declined", "insufficient_funds")
    assert (body["order"]["status"], body["order"]["cancel_reason"]) == (
        "cancelled",
        "payment_declined",
    )
    assert upstreams.stock(product["sku"])["reserved"] == 0
    # The declined attempt stays in payments (the HTTP contract stores it); nothing was charged.
    assert [p["status"] for p in upstreams.payments_of(customer)] == ["declined"]


def test_a_gateway_error_is_a_502_with_nothing_charged(
    upstreams: Upstreams, orders: OrdersProcess
) -> None:
    product = upstreams.product(on_hand=3)
    customer = uuid.uuid4()
    with orders.client() as http:
        answer = http.post(
            ORDERS,
            json=checkout_body([(product["sku"], 1)], "tok_error"),
            headers=upstreams.auth(customer),
        )
    assert answer.status_code == 502, answer.text
    assert answer.json()["order"]["cancel_reason"] == "payment_error"
    assert upstreams.stock(product["sku"])["reserved"] == 0
    assert upstreams.payments_of(customer) == []


def test_an_idempotency_key_replays_the_first_answer(
    upstreams: Upstreams, orders: OrdersProcess
) -> None:
    product = upstreams.product(on_hand=5)
    customer = uuid.uuid4()
    headers = {**upstreams.auth(customer), "Idempotency-Key": f"k-{random_suffix()}"}
    body = checkout_body([(product["sku"], 2)])
    with orders.client() as http:
        first = http.post(ORDERS, json=body, headers=headers)
        again = http.post(ORDERS, json=body, headers=headers)
        other = http.post(ORDERS, json=checkout_body([(product["sku"], 1)]), headers=headers)
    assert first.status_code == 201, first.text
    assert (again.status_code, again.content) == (201, first.content)
    assert again.headers["idempotent-replayed"] == "true"
    assert (other.status_code, other.json()["error"]) == (422, "idempotency_key_reused")
    assert upstreams.stock(product["sku"])["reserved"] == 2
    assert len(upstreams.payments_of(customer)) == 1


def test_refusals_store_nothing(upstreams: Upstreams, orders: OrdersProcess) -> None:
    product = upstreams.product(on_hand=5)
    customer = uuid.uuid4()
    me = upstreams.auth(customer)
    with orders.client() as http:
        unknown = http.post(
            ORDERS, json=checkout_body([(product["sku"], 1), ("SKU-nope", 1)]), headers=me
        )
        assert unknown.json() == {
            "error": "validation_error",
            "detail": "Invalid input.",
            "fields": {"lines.1.sku": ["Product 'SKU-nope' not found."]},
        }
        bad_card = http.post(ORDERS, json=checkout_body([(product["sku"], 1)], "visa"), headers=me)
        assert bad_card.json()["fields"] == {
            "card_token": ["Not a card token (expected tok_ and [a-z0-9_])."]
        }
        for_other = http.post(
            ORDERS,
            json={**checkout_body([(product["sku"], 1)]), "customer_id": str(uuid.uuid4())},
            headers=me,
        )
        assert (for_other.status_code, for_other.json()["error"]) == (403, "permission_denied")
        anonymous = http.post(ORDERS, json=checkout_body([(product["sku"], 1)]))
        assert (anonymous.status_code, anonymous.json()["error"]) == (401, "not_authenticated")
        assert http.get(ORDERS, headers=me).json()["count"] == 0
    assert upstreams.stock(product["sku"])["reserved"] == 0


def test_listing_is_newest_first_filtered_and_paginated(
    upstreams: Upstreams, orders: OrdersProcess
) -> None:
    product = upstreams.product(on_hand=5)
    customer = uuid.uuid4()
    me = upstreams.auth(customer)
    with orders.client() as http:
        placed = [
            http.post(ORDERS, json=checkout_body([(product["sku"], 1)], card), headers=me).json()
            for card in ("tok_visa", "tok_decline_expired", "tok_visa")
        ]
        ids = [body.get("id") or body["order"]["id"] for body in placed]
        first = http.get(ORDERS, params={"page_size": 2}, headers=me).json()
        assert first["count"] == 3
        assert [o["id"] for o in first["results"]] == [ids[2], ids[1]]  # newest first
        assert first["next"].endswith("/api/orders/?page=2&page_size=2")
        second = http.get(ORDERS, params={"page": 2, "page_size": 2}, headers=me).json()
        assert [o["id"] for o in second["results"]] == [ids[0]]
        cancelled = http.get(ORDERS, params={"status": "cancelled"}, headers=me).json()
        assert [o["id"] for o in cancelled["results"]] == [ids[1]]
        staff = http.get(
            ORDERS, params={"customer_id": str(customer)}, headers=upstreams.staff()
        ).json()
        assert staff["count"] == 3
        someone_else = http.get(ORDERS, headers=upstreams.auth(uuid.uuid4())).json()
        assert someone_else["count"] == 0
