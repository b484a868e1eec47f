"""The payments HTTP contract (docs/payments-api.md) on the extracted service, in process on
real PostgreSQL: the monolith's paths, status codes, bodies, ownership rules and events."""

from __future__ import annotations

import re
import uuid

import pytest
from sqlalchemy.orm import Session, sessionmaker

from card_gateway.fake import gateway_reference
from contracts.events import PaymentState
from contracts.tokens import UNAUTHENTICATED_BODY, WWW_AUTHENTICATE
from monolith.identity.models import User
from tests.extracted.asgi_client import BlockingASGIClient
from tests.extracted.payments.api.helpers import act, create_payment, events_of, payments_of
from tests.extracted.payments.conftest import bearer
from tests.support.payments_api import PAYMENT_KEYS, PAYMENTS, payment_body, payment_path

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def test_a_customer_authorises_a_payment_for_themselves(
    client: BlockingASGIClient, customer: User, sessions: sessionmaker[Session]
) -> None:
    body = create_payment(client, customer, amount="12.5")
    assert list(body) == PAYMENT_KEYS
    assert body["customer_id"] == str(customer.id)
    assert (body["amount"], body["status"], body["captured_amount"]) == (
        "12.50",
        "authorized",
        "0.00",
    )
    assert body["gateway_reference"] == gateway_reference(uuid.UUID(body["id"]))
    assert (body["refunds"], body["version"], body["decline_reason"]) == ([], 1, None)
    assert TIMESTAMP.match(body["created_at"]) and body["created_at"] == body["updated_at"]
    (event,) = events_of(sessions, body["id"])
    assert (event.event_type, event.version, event.origin) == (
        "payments.payment.authorized.v1",
        1,
        "payments",
    )
    assert PaymentState.model_validate(event.payload).model_dump(mode="json") == event.payload


def test_capture_true_authorises_and_captures_in_one_request(
    client: BlockingASGIClient, customer: User
) -> None:
    body = create_payment(client, customer, capture=True)
    assert (body["status"], body["captured_amount"]) == ("captured", "20.00")


def test_staff_pay_for_the_customer_they_name_and_must_name_one(
    client: BlockingASGIClient, staff: User, customer: User
) -> None:
    named = create_payment(client, staff, customer_id=str(customer.id))
    assert named["customer_id"] == str(customer.id)
    resp = client.post(PAYMENTS, json=payment_body(), headers=bearer(staff))
    assert (resp.status_code, resp.json()["fields"]) == (
        400,
        {"customer_id": ["This field is required."]},
    )


def test_a_customer_cannot_pay_for_another(
    client: BlockingASGIClient, customer: User, other_customer: User
) -> None:
    resp = client.post(
        PAYMENTS, json=payment_body(customer_id=str(other_customer.id)), headers=bearer(customer)
    )
    assert (resp.status_code, resp.json()) == (
        403,
        {"error": "permission_denied", "detail": "Customers may only act for themselves."},
    )


def test_without_a_token_every_endpoint_is_the_one_401(
    client: BlockingASGIClient, customer: User, sessions: sessionmaker[Session]
) -> None:
    payment = create_payment(client, customer)
    paths = [
        ("GET", PAYMENTS),
        ("POST", PAYMENTS),
        ("GET", payment_path(payment["id"])),
        ("POST", payment_path(payment["id"], "capture")),
        ("POST", payment_path(payment["id"], "void")),
        ("POST", payment_path(payment["id"], "refunds")),
        ("DELETE", payment_path(payment["id"])),  # DRF authenticates before its 405
    ]
    for method, path in paths:
        resp = client.request(method, path, json=payment_body())
        assert (resp.status_code, resp.json()) == (401, UNAUTHENTICATED_BODY), (method, path)
        assert resp.headers["WWW-Authenticate"] == WWW_AUTHENTICATE
    assert payments_of(sessions, customer) == 1
    delete = client.request("DELETE", payment_path(payment["id"]), headers=bearer(customer))
    assert delete.status_code == 405
    assert delete.headers["Allow"] == "GET, HEAD, OPTIONS"


@pytest.mark.parametrize(
    ("overrides", "fields"),
    [
        ({"amount": ...}, {"amount": ["This field is required."]}),
        ({"amount": "0"}, {"amount": ["Ensure this value is greater than 0."]}),
        ({"amount": 1.005}, {"amount": ["Ensure that there are no more than 2 decimal places."]}),
        (
            {"amount": "12345678901.00"},
            {"amount": ["Ensure that there are no more than 12 digits in total."]},
        ),
        (
            {"card_token": "4242424242424242"},
            {"card_token": ["Not a card token (expected tok_ and [a-z0-9_])."]},
        ),
        (
            {"card_token": "tok_" + "a" * 97},
            {"card_token": ["Ensure this field has no more than 100 characters."]},
        ),
        ({"order_id": "nope"}, {"order_id": ["Must be a valid UUID."]}),
        ({"capture": "maybe"}, {"capture": ["Must be a valid boolean."]}),
    ],
)
def test_create_refuses_bad_fields_and_stores_nothing(
    client: BlockingASGIClient,
    customer: User,
    sessions: sessionmaker[Session],
    overrides: dict[str, object],
    fields: dict[str, list[str]],
) -> None:
    resp = client.post(PAYMENTS, json=payment_body(**overrides), headers=bearer(customer))
    assert (resp.status_code, resp.json()) == (
        400,
        {"error": "validation_error", "detail": "Invalid input.", "fields": fields},
    )
    assert payments_of(sessions, customer) == 0


def test_a_decline_is_a_402_with_the_reason_and_the_stored_payment(
    client: BlockingASGIClient, customer: User, sessions: sessionmaker[Session]
) -> None:
    resp = client.post(
        PAYMENTS,
        json=payment_body(card_token="tok_decline_insufficient_funds"),
        headers=bearer(customer),
    )
    assert resp.status_code == 402
    body = resp.json()
    assert list(body) == ["error", "detail", "reason", "payment"]
    assert (body["error"], body["detail"], body["reason"]) == (
        "payment_declined",
        "The card was declined.",
        "insufficient_funds",
    )
    stored = client.get(payment_path(body["payment"]["id"]), headers=bearer(customer)).json()
    assert stored == body["payment"]
    assert (stored["status"], stored["gateway_reference"]) == ("declined", None)
    assert [e.event_type for e in events_of(sessions, stored["id"])] == [
        "payments.payment.declined.v1"
    ]


def test_a_gateway_error_is_a_502_and_stores_nothing(
    client: BlockingASGIClient, customer: User, sessions: sessionmaker[Session]
) -> None:
    resp = client.post(
        PAYMENTS, json=payment_body(card_token="tok_error"), headers=bearer(customer)
    )
    assert (resp.status_code, resp.json()) == (
        502,
        {"error": "gateway_error", "detail": "The card gateway failed; nothing was charged."},
    )
    assert payments_of(sessions, customer) == 0


def test_another_customers_payment_is_an_unknown_id_and_staff_see_all(
    client: BlockingASGIClient, customer: User, other_customer: User, staff: User
) -> None:
    payment = create_payment(client, customer)
    unknown = str(uuid.uuid4())
    for pid in (payment["id"], unknown):
        for method, path in [
            ("GET", payment_path(pid)),
            ("POST", payment_path(pid, "capture")),
            ("POST", payment_path(pid, "void")),
            ("POST", payment_path(pid, "refunds")),
        ]:
            resp = client.request(method, path, headers=bearer(other_customer))
            assert (resp.status_code, resp.json()) == (
                404,
                {"error": "not_found", "detail": f"Payment '{pid}' not found."},
            ), (method, path)
    seen = client.get(payment_path(payment["id"]), headers=bearer(staff))
    assert seen.json() == payment
    assert act(client, staff, payment["id"], "capture").json()["status"] == "captured"


def test_the_list_is_scoped_newest_first_filtered_and_paginated(
    client: BlockingASGIClient, customer: User, other_customer: User, staff: User
) -> None:
    mine = [create_payment(client, customer) for _ in range(3)]
    theirs = create_payment(client, other_customer, capture=True)
    listed = client.get(PAYMENTS, headers=bearer(customer)).json()
    assert listed["count"] == 3 and (listed["next"], listed["previous"]) == (None, None)
    assert [p["id"] for p in listed["results"]] == [p["id"] for p in reversed(mine)]
    everyone = client.get(f"{PAYMENTS}?status=captured", headers=bearer(staff)).json()
    assert theirs["id"] in [p["id"] for p in everyone["results"]]
    assert all(p["status"] == "captured" for p in everyone["results"])
    page = client.get(f"{PAYMENTS}?page_size=2&page=2", headers=bearer(customer)).json()
    assert [p["id"] for p in page["results"]] == [mine[0]["id"]]
    assert page["previous"] == "http://testserver/api/payments/?page_size=2"
    narrowed = client.get(
        f"{PAYMENTS}?customer_id={other_customer.id}", headers=bearer(customer)
    ).json()
    assert narrowed["count"] == 0  # a filter narrows within the scope, never widens it
    assert client.get(f"{PAYMENTS}?page=9", headers=bearer(customer)).json() == {
        "error": "not_found",
        "detail": "Invalid page.",
    }


@pytest.mark.parametrize(
    ("query", "fields"),
    [
        ("?status=lost", {"status": ['"lost" is not a valid choice.']}),
        ("?order_id=x", {"order_id": ["Must be a valid UUID."]}),
    ],
)
def test_bad_list_filters_are_field_errors(
    client: BlockingASGIClient, customer: User, query: str, fields: dict[str, list[str]]
) -> None:
    resp = client.get(PAYMENTS + query, headers=bearer(customer))
    assert (resp.status_code, resp.json()["fields"]) == (400, fields)


def test_capture_void_and_their_409s(client: BlockingASGIClient, customer: User) -> None:
    payment = create_payment(client, customer)
    captured = act(client, customer, payment["id"], "capture").json()
    assert (captured["status"], captured["captured_amount"], captured["version"]) == (
        "captured",
        "20.00",
        2,
    )
    for action in ("capture", "void"):
        resp = act(client, customer, payment["id"], action)
        assert (resp.status_code, resp.json()) == (
            409,
            {
                "error": "invalid_state",
                "detail": "Payment is captured, expected authorized.",
                "status": "captured",
            },
        )
    other = create_payment(client, customer)
    assert act(client, customer, other["id"], "void").json()["status"] == "voided"


def test_refunds_take_back_exactly_what_was_captured(
    client: BlockingASGIClient, customer: User, sessions: sessionmaker[Session]
) -> None:
    payment = create_payment(client, customer, amount="10.00", capture=True)
    part = act(client, customer, payment["id"], "refunds", json={"amount": "4.00"})
    assert part.status_code == 201
    assert (part.json()["status"], part.json()["refunded_amount"]) == ("captured", "4.00")
    too_much = act(client, customer, payment["id"], "refunds", json={"amount": "6.01"})
    assert (too_much.status_code, too_much.json()) == (
        409,
        {
            "error": "refund_exceeds_captured",
            "detail": "The refund exceeds what is left to refund (6.00).",
            "refundable": "6.00",
        },
    )
    rest = act(client, customer, payment["id"], "refunds").json()
    assert (rest["status"], rest["refunded_amount"], rest["version"]) == ("refunded", "10.00", 3)
    assert [r["amount"] for r in rest["refunds"]] == ["4.00", "6.00"]
    again = act(client, customer, payment["id"], "refunds")
    assert (again.status_code, again.json()["status"]) == (409, "refunded")
    assert [(e.event_type, e.version) for e in events_of(sessions, payment["id"])] == [
        ("payments.payment.captured.v1", 1),
        ("payments.payment.refunded.v1", 2),
        ("payments.payment.refunded.v1", 3),
    ]
    assert events_of(sessions, payment["id"])[-1].payload["refunds"] == [
        {k: r[k] for k in ("id", "amount", "created_at")} for r in rest["refunds"]
    ]


def test_refunding_an_unknown_payment_is_404_whatever_the_body(
    client: BlockingASGIClient, customer: User
) -> None:
    path = payment_path(uuid.uuid4(), "refunds")
    resp = client.post(path, content=b"{nope", headers=bearer(customer))
    assert resp.status_code == 404


def test_a_dry_run_answers_like_the_write_and_keeps_nothing(
    client: BlockingASGIClient, customer: User, sessions: sessionmaker[Session]
) -> None:
    dry = {**bearer(customer), "X-Strangler-Dry-Run": "1"}
    resp = client.post(PAYMENTS, json=payment_body(), headers=dry)
    assert resp.status_code == 201 and resp.headers["X-Strangler-Dry-Run"] == "rolled-back"
    assert payments_of(sessions, customer) == 0
    assert events_of(sessions, resp.json()["id"]) == []
