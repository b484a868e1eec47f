"""The payments over HTTP: each endpoint's answer and each refusal (docs/payments-api.md)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from decimal import Decimal

import pytest

from contracts import events
from monolith.identity.models import User
from monolith.outbox.models import OutboxEvent
from monolith.payments.gateway import gateway_charges, gateway_reference
from monolith.payments.models import Payment, Refund
from monolith.payments.services import payment_capture
from tests.monolith.api_client import JsonClient, JsonResponse
from tests.monolith.factories import make_payment
from tests.support.payments_api import PAYMENT_KEYS, PAYMENTS, payment_body, payment_path

pytestmark = pytest.mark.django_db


def _payment_events() -> int:
    return OutboxEvent.objects.filter(aggregate_type="payment").count()


# --- create -------------------------------------------------------------------------------------


def test_a_customer_authorises_a_payment_for_themselves(
    customer: User, customer_api: JsonClient
) -> None:
    order_id = str(uuid.uuid4())
    resp = customer_api.post(PAYMENTS, payment_body(amount="12.50", order_id=order_id))
    assert resp.status == 201, resp.body
    body = resp.body
    assert list(body) == PAYMENT_KEYS
    assert body["customer_id"] == str(customer.id)
    assert body["order_id"] == order_id
    assert (body["amount"], body["status"]) == ("12.50", "authorized")
    assert (body["captured_amount"], body["refunded_amount"]) == ("0.00", "0.00")
    assert body["decline_reason"] is None
    assert body["gateway_reference"] == gateway_reference(uuid.UUID(body["id"]))
    assert (body["refunds"], body["version"]) == ([], 1)
    assert body["created_at"] == body["updated_at"]
    assert body["created_at"].endswith("Z")
    assert len(gateway_charges(payment_id=uuid.UUID(body["id"]))) == 1


def test_capture_true_authorises_and_captures_in_one_request(customer_api: JsonClient) -> None:
    resp = customer_api.post(PAYMENTS, payment_body(amount="30", capture=True))
    assert resp.status == 201, resp.body
    assert (resp.body["status"], resp.body["captured_amount"], resp.body["version"]) == (
        "captured",
        "30.00",
        1,
    )


def test_staff_create_a_payment_for_the_customer_they_name(
    customer: User, staff_api: JsonClient
) -> None:
    resp = staff_api.post(PAYMENTS, payment_body(customer_id=str(customer.id)))
    assert resp.status == 201, resp.body
    assert resp.body["customer_id"] == str(customer.id)


def test_staff_must_name_the_customer(staff_api: JsonClient) -> None:
    resp = staff_api.post(PAYMENTS, payment_body())
    assert resp.status == 400
    assert resp.body["fields"] == {"customer_id": ["This field is required."]}
    assert not Payment.objects.exists()


def test_a_customer_cannot_pay_for_another(other_customer: User, customer_api: JsonClient) -> None:
    resp = customer_api.post(PAYMENTS, payment_body(customer_id=str(other_customer.id)))
    assert (resp.status, resp.body["error"]) == (403, "permission_denied")
    assert not Payment.objects.exists()


def test_a_customer_may_name_themselves(customer: User, customer_api: JsonClient) -> None:
    resp = customer_api.post(PAYMENTS, payment_body(customer_id=str(customer.id)))
    assert resp.status == 201, resp.body


def test_without_a_token_every_endpoint_is_401(api: JsonClient) -> None:
    payment = make_payment()
    paths = [
        ("GET", PAYMENTS),
        ("POST", PAYMENTS),
        ("GET", payment_path(payment.id)),
        ("POST", payment_path(payment.id, "capture")),
        ("POST", payment_path(payment.id, "void")),
        ("POST", payment_path(payment.id, "refunds")),
    ]
    for method, path in paths:
        resp = api.send(method, path, payment_body())
        assert resp.status == 401, path
        assert resp.body["error"] == "not_authenticated"
    assert Payment.objects.count() == 1


@pytest.mark.parametrize(
    ("overrides", "fields"),
    [
        ({"amount": ...}, {"amount": ["This field is required."]}),
        ({"amount": "0"}, {"amount": ["Ensure this value is greater than 0."]}),
        ({"amount": "-5.00"}, {"amount": ["Ensure this value is greater than 0."]}),
        ({"amount": "x"}, {"amount": ["A valid number is required."]}),
        ({"amount": 1.005}, {"amount": ["Ensure that there are no more than 2 decimal places."]}),
        (
            {"amount": "12345678901.00"},
            {"amount": ["Ensure that there are no more than 12 digits in total."]},
        ),
        ({"card_token": ...}, {"card_token": ["This field is required."]}),
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
        (
            {"amount": "0", "card_token": "bad"},
            {
                "amount": ["Ensure this value is greater than 0."],
                "card_token": ["Not a card token (expected tok_ and [a-z0-9_])."],
            },
        ),
    ],
)
def test_create_refuses_bad_fields_and_stores_nothing(
    customer_api: JsonClient, overrides: dict[str, object], fields: dict[str, list[str]]
) -> None:
    resp = customer_api.post(PAYMENTS, payment_body(**overrides))
    assert resp.status == 400
    assert resp.body == {"error": "validation_error", "detail": "Invalid input.", "fields": fields}
    assert not Payment.objects.exists()
    assert _payment_events() == 0


def test_a_non_object_body_is_refused(customer_api: JsonClient) -> None:
    resp = customer_api.post(PAYMENTS, ["amount"])
    assert resp.status == 400
    assert resp.body["fields"] == {
        "non_field_errors": ["Invalid data. Expected a dictionary, but got list."]
    }


def test_a_decline_is_a_402_with_the_reason_and_the_stored_payment(
    customer_api: JsonClient,
) -> None:
    resp = customer_api.post(PAYMENTS, payment_body(card_token="tok_decline_insufficient_funds"))
    assert resp.status == 402
    assert list(resp.body) == ["error", "detail", "reason", "payment"]
    assert resp.body["error"] == "payment_declined"
    assert resp.body["detail"] == "The card was declined."
    assert resp.body["reason"] == "insufficient_funds"
    payment = resp.body["payment"]
    assert list(payment) == PAYMENT_KEYS
    assert (payment["status"], payment["decline_reason"]) == ("declined", "insufficient_funds")
    assert payment["gateway_reference"] is None
    stored = Payment.objects.get(id=payment["id"])
    assert (stored.status, stored.version) == ("declined", 1)
    assert _payment_events() == 1


def test_a_gateway_error_is_a_502_and_stores_nothing(customer_api: JsonClient) -> None:
    resp = customer_api.post(PAYMENTS, payment_body(card_token="tok_error"))
    assert resp.status == 502
    assert resp.body == {
        "error": "gateway_error",
        "detail": "The card gateway failed; nothing was charged.",
    }
    assert not Payment.objects.exists()
    assert _payment_events() == 0


# --- reads --------------------------------------------------------------------------------------


def test_a_customer_reads_their_payment_and_another_customers_is_an_unknown_id(
    customer: User, other_customer: User, customer_api: JsonClient
) -> None:
    mine = make_payment(customer_id=customer.id)
    theirs = make_payment(customer_id=other_customer.id)
    resp = customer_api.get(payment_path(mine.id))
    assert resp.status == 200
    assert resp.body["id"] == str(mine.id)

    hidden = customer_api.get(payment_path(theirs.id))
    unknown_id = uuid.uuid4()
    unknown = customer_api.get(payment_path(unknown_id))
    assert (hidden.status, unknown.status) == (404, 404)
    assert hidden.body == {"error": "not_found", "detail": f"Payment '{theirs.id}' not found."}
    assert unknown.body == {"error": "not_found", "detail": f"Payment '{unknown_id}' not found."}


def test_staff_read_anyones_payment(customer: User, staff_api: JsonClient) -> None:
    payment = make_payment(customer_id=customer.id)
    resp = staff_api.get(payment_path(payment.id))
    assert (resp.status, resp.body["customer_id"]) == (200, str(customer.id))


def test_the_list_is_scoped_newest_first_and_filtered(
    customer: User,
    other_customer: User,
    customer_api: JsonClient,
    staff_api: JsonClient,
) -> None:
    order_id = uuid.uuid4()
    first = make_payment(customer_id=customer.id, order_id=order_id)
    second = make_payment(customer_id=customer.id, capture=True)
    third = make_payment(customer_id=customer.id, card_token="tok_decline_lost_card")
    theirs = make_payment(customer_id=other_customer.id)

    def ids(client: JsonClient, query: str = "") -> list[str]:
        resp = client.get(PAYMENTS + query)
        assert resp.status == 200, resp.body
        assert set(resp.body) == {"count", "next", "previous", "results"}
        return [row["id"] for row in resp.body["results"]]

    mine = [str(p.id) for p in (third, second, first)]
    assert ids(customer_api) == mine
    assert ids(customer_api, f"?customer_id={other_customer.id}") == []
    assert ids(customer_api, "?status=captured") == [str(second.id)]
    assert ids(customer_api, f"?order_id={order_id}") == [str(first.id)]
    assert ids(staff_api) == [str(theirs.id), *mine]
    assert ids(staff_api, f"?customer_id={other_customer.id}") == [str(theirs.id)]
    assert ids(staff_api, "?status=declined") == [str(third.id)]


def test_list_ties_on_created_at_are_broken_by_id_descending(
    customer: User, customer_api: JsonClient
) -> None:
    payments = [make_payment(customer_id=customer.id) for _ in range(3)]
    same_instant = payments[0].created_at
    Payment.objects.filter(id__in=[p.id for p in payments]).update(created_at=same_instant)
    resp = customer_api.get(PAYMENTS)
    expected = sorted((str(p.id) for p in payments), reverse=True)
    assert [row["id"] for row in resp.body["results"]] == expected


def test_the_list_is_paginated(customer: User, customer_api: JsonClient) -> None:
    for _ in range(3):
        make_payment(customer_id=customer.id)
    resp = customer_api.get(PAYMENTS + "?page_size=2")
    assert (resp.body["count"], len(resp.body["results"])) == (3, 2)
    assert resp.body["next"] == "http://testserver/api/payments/?page=2&page_size=2"
    last = customer_api.get(PAYMENTS + "?page=2&page_size=2")
    assert len(last.body["results"]) == 1


@pytest.mark.parametrize(
    ("query", "fields"),
    [
        ("?status=pending", {"status": ['"pending" is not a valid choice.']}),
        ("?order_id=1", {"order_id": ["Must be a valid UUID."]}),
        ("?customer_id=x", {"customer_id": ["Must be a valid UUID."]}),
    ],
)
def test_bad_list_filters_are_field_errors(
    customer_api: JsonClient, query: str, fields: dict[str, list[str]]
) -> None:
    resp = customer_api.get(PAYMENTS + query)
    assert (resp.status, resp.body["fields"]) == (400, fields)


# --- capture / void ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "status", "captured"), [("capture", "captured", "20.00"), ("void", "voided", "0.00")]
)
def test_capture_and_void_move_an_authorised_payment(
    customer: User, customer_api: JsonClient, action: str, status: str, captured: str
) -> None:
    payment = make_payment(customer_id=customer.id)
    resp = customer_api.post(payment_path(payment.id, action))
    assert resp.status == 200, resp.body
    assert (resp.body["status"], resp.body["captured_amount"], resp.body["version"]) == (
        status,
        captured,
        2,
    )
    assert resp.body["updated_at"] > resp.body["created_at"]


@pytest.mark.parametrize("action", ["capture", "void"])
def test_capture_and_void_are_409_from_any_other_status(
    customer: User, customer_api: JsonClient, action: str
) -> None:
    payment = make_payment(customer_id=customer.id, capture=True)
    resp = customer_api.post(payment_path(payment.id, action))
    assert resp.status == 409
    assert resp.body == {
        "error": "invalid_state",
        "detail": "Payment is captured, expected authorized.",
        "status": "captured",
    }
    assert Payment.objects.get(id=payment.id).version == 1


@pytest.mark.parametrize("action", ["capture", "void", "refunds"])
def test_actions_on_another_customers_payment_are_404(
    other_customer: User, customer_api: JsonClient, action: str
) -> None:
    payment = make_payment(customer_id=other_customer.id, capture=action == "refunds")
    resp = customer_api.post(payment_path(payment.id, action), {})
    assert resp.status == 404
    assert resp.body["detail"] == f"Payment '{payment.id}' not found."
    assert Payment.objects.get(id=payment.id).version == 1


def test_staff_act_on_anyones_payment(customer: User, staff_api: JsonClient) -> None:
    payment = make_payment(customer_id=customer.id)
    assert staff_api.post(payment_path(payment.id, "capture")).status == 200
    resp = staff_api.post(payment_path(payment.id, "refunds"), {"amount": "1.00"})
    assert resp.status == 201


# --- refunds -------------------------------------------------------------------------------------


def test_partial_then_default_refunds_refund_exactly_what_was_captured(
    customer: User, customer_api: JsonClient
) -> None:
    payment = make_payment(customer_id=customer.id, amount="20.00", capture=True)
    path = payment_path(payment.id, "refunds")

    partial = customer_api.post(path, {"amount": "12.50"})
    assert partial.status == 201, partial.body
    assert (partial.body["status"], partial.body["refunded_amount"]) == ("captured", "12.50")
    [refund] = partial.body["refunds"]
    assert list(refund) == ["id", "amount", "created_at"]
    assert refund["amount"] == "12.50"

    rest = customer_api.post(path)  # no body: everything still refundable
    assert rest.status == 201, rest.body
    assert (rest.body["status"], rest.body["refunded_amount"], rest.body["version"]) == (
        "refunded",
        "20.00",
        3,
    )
    assert [r["amount"] for r in rest.body["refunds"]] == ["12.50", "7.50"]
    assert rest.body["refunds"][0] == refund


def test_a_refund_above_what_is_left_is_409_with_the_refundable_amount(
    customer: User, customer_api: JsonClient
) -> None:
    payment = make_payment(customer_id=customer.id, amount="10.00", capture=True)
    path = payment_path(payment.id, "refunds")
    assert customer_api.post(path, {"amount": "2.50"}).status == 201
    resp = customer_api.post(path, {"amount": "7.51"})
    assert resp.status == 409
    assert resp.body == {
        "error": "refund_exceeds_captured",
        "detail": "The refund exceeds what is left to refund (7.50).",
        "refundable": "7.50",
    }
    assert Refund.objects.filter(payment_id=payment.id).count() == 1


@pytest.mark.parametrize("setup", ["authorized", "voided", "declined", "refunded"])
def test_a_refund_is_409_unless_captured(
    customer: User, customer_api: JsonClient, setup: str
) -> None:
    payment = make_payment(
        customer_id=customer.id,
        capture=setup == "refunded",
        card_token="tok_decline_expired_card" if setup == "declined" else "tok_visa",
    )
    if setup == "voided":
        customer_api.post(payment_path(payment.id, "void"))
    if setup == "refunded":
        customer_api.post(payment_path(payment.id, "refunds"))
    resp = customer_api.post(payment_path(payment.id, "refunds"), {"amount": "1.00"})
    assert resp.status == 409
    assert (resp.body["error"], resp.body["status"]) == ("invalid_state", setup)
    assert resp.body["detail"] == f"Payment is {setup}, expected captured."


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("0.00", "Ensure this value is greater than 0."),
        ("abc", "A valid number is required."),
        ("1.001", "Ensure that there are no more than 2 decimal places."),
    ],
)
def test_a_bad_refund_amount_is_a_field_error(
    customer: User, customer_api: JsonClient, amount: str, message: str
) -> None:
    payment = make_payment(customer_id=customer.id, capture=True)
    resp = customer_api.post(payment_path(payment.id, "refunds"), {"amount": amount})
    assert (resp.status, resp.body["fields"]) == (400, {"amount": [message]})
    assert not Refund.objects.exists()


def test_refunding_an_unknown_payment_is_404_whatever_the_body(customer_api: JsonClient) -> None:
    resp = customer_api.post(payment_path(uuid.uuid4(), "refunds"), {"amount": "nope"})
    assert (resp.status, resp.body["error"]) == (404, "not_found")


# --- events -------------------------------------------------------------------------------------


def test_every_write_endpoint_records_one_event_per_row_write_with_the_next_version(
    customer_api: JsonClient,
) -> None:
    def step(
        send: Callable[[], JsonResponse], payment_id: str | None, expected: list[tuple[str, int]]
    ) -> str:
        before = OutboxEvent.objects.order_by("-seq").values_list("seq", flat=True).first() or 0
        resp = send()
        assert resp.status in (200, 201, 402), resp.body
        body = resp.body
        pid = payment_id or body.get("id") or body["payment"]["id"]
        new = list(OutboxEvent.objects.filter(seq__gt=before).order_by("seq"))
        assert [(e.aggregate_type, e.aggregate_id, e.event_type, e.version) for e in new] == [
            ("payment", pid, event_type, version) for event_type, version in expected
        ]
        current = body.get("payment", body)
        assert new[-1].payload == current
        return str(pid)

    a = step(
        lambda: customer_api.post(PAYMENTS, payment_body()), None, [(events.PAYMENT_AUTHORIZED, 1)]
    )
    step(lambda: customer_api.post(payment_path(a, "capture")), a, [(events.PAYMENT_CAPTURED, 2)])
    step(
        lambda: customer_api.post(payment_path(a, "refunds"), {"amount": "5.00"}),
        a,
        [(events.PAYMENT_REFUNDED, 3)],
    )
    step(lambda: customer_api.post(payment_path(a, "refunds")), a, [(events.PAYMENT_REFUNDED, 4)])
    b = step(
        lambda: customer_api.post(PAYMENTS, payment_body()), None, [(events.PAYMENT_AUTHORIZED, 1)]
    )
    step(lambda: customer_api.post(payment_path(b, "void")), b, [(events.PAYMENT_VOIDED, 2)])
    step(
        lambda: customer_api.post(PAYMENTS, payment_body(capture=True)),
        None,
        [(events.PAYMENT_CAPTURED, 1)],
    )
    step(
        lambda: customer_api.post(PAYMENTS, payment_body(card_token="tok_decline_x")),
        None,
        [(events.PAYMENT_DECLINED, 1)],
    )


def test_the_event_payload_is_the_api_body(customer: User, customer_api: JsonClient) -> None:
    payment = make_payment(customer_id=customer.id)
    payment_capture(payment_id=payment.id)
    body = customer_api.get(payment_path(payment.id)).body
    event = OutboxEvent.objects.filter(aggregate_id=str(payment.id)).order_by("-seq")[0]
    assert event.payload == body
    assert Decimal(body["captured_amount"]) == Decimal("20.00")
