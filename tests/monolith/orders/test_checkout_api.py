"""``POST /api/orders/``: checkout = reserve -> charge -> confirm in one transaction; a shortage, a
declined card or a failed gateway leaves a ``cancelled`` order with its reason and nothing else."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import pytest

from monolith.identity.models import User
from monolith.inventory.models import Product, Reservation
from monolith.orders.models import Order
from monolith.outbox.models import OutboxEvent
from monolith.payments.gateway import gateway_charges
from monolith.payments.models import Payment
from tests.monolith.api_client import JsonClient
from tests.monolith.factories import make_product
from tests.monolith.orders.factories import ORDERS, checkout_body

pytestmark = pytest.mark.django_db


def _stock(sku: str) -> tuple[int, int, int]:
    product = Product.objects.get(sku=sku)
    return product.on_hand, product.reserved, product.version


def _assert_nothing_behind(order_id: str) -> None:
    """A cancelled checkout holds no reservation and no payment, stored or charged."""
    assert not Reservation.objects.filter(order_id=order_id).exists()
    assert not Payment.objects.filter(order_id=order_id).exists()
    assert (
        not OutboxEvent.objects.exclude(aggregate_type="order")
        .filter(payload__order_id=order_id)
        .exists()
    )


def test_checkout_confirms_the_order_with_a_pending_reservation_and_a_captured_payment(
    customer: User, customer_api: JsonClient
) -> None:
    mug = make_product(price="19.99", on_hand=10)
    spoon = make_product(price="0.10", on_hand=10)

    resp = customer_api.post(ORDERS, checkout_body([(spoon.sku, 2), (mug.sku, 3), (spoon.sku, 1)]))

    assert resp.status == 201, resp.body
    body = resp.body
    # 3 x 19.99 + 3 x 0.10, exactly (a float sum would be 60.269999...)
    assert body["total"] == "60.27"
    assert Decimal(body["total"]) == Decimal("19.99") * 3 + Decimal("0.10") * 3
    expected_lines = sorted(
        [
            {"sku": mug.sku, "quantity": 3, "unit_price": "19.99", "line_total": "59.97"},
            {"sku": spoon.sku, "quantity": 3, "unit_price": "0.10", "line_total": "0.30"},
        ],
        key=lambda line: line["sku"],
    )
    assert body["lines"] == expected_lines
    assert (body["status"], body["cancel_reason"], body["version"]) == ("confirmed", None, 1)
    assert body["customer_id"] == str(customer.id)
    assert list(body) == [
        "id",
        "customer_id",
        "status",
        "cancel_reason",
        "lines",
        "total",
        "payment_id",
        "reservation_id",
        "version",
        "created_at",
        "updated_at",
    ]

    reservation = Reservation.objects.get(id=body["reservation_id"])
    assert (str(reservation.order_id), reservation.status) == (body["id"], "pending")
    assert sorted((line.product_id, line.quantity) for line in reservation.lines.all()) == sorted(
        [(mug.sku, 3), (spoon.sku, 3)]
    )
    payment = Payment.objects.get(id=body["payment_id"])
    assert (payment.status, payment.amount, payment.captured_amount) == (
        "captured",
        Decimal("60.27"),
        Decimal("60.27"),
    )
    assert (str(payment.order_id), payment.customer_id) == (body["id"], customer.id)
    assert [c.amount for c in gateway_charges(payment_id=payment.id)] == [Decimal("60.27")]
    assert _stock(mug.sku) == (10, 3, 2)
    assert _stock(spoon.sku) == (10, 3, 2)


def test_staff_check_out_for_the_customer_they_name(customer: User, staff_api: JsonClient) -> None:
    product = make_product(on_hand=2)

    resp = staff_api.post(ORDERS, checkout_body([(product.sku, 1)], customer_id=str(customer.id)))

    assert resp.status == 201, resp.body
    assert resp.body["customer_id"] == str(customer.id)
    assert Payment.objects.get(id=resp.body["payment_id"]).customer_id == customer.id


def test_staff_must_name_the_customer(staff_api: JsonClient) -> None:
    product = make_product(on_hand=2)

    resp = staff_api.post(ORDERS, checkout_body([(product.sku, 1)]))

    assert resp.status == 400
    assert resp.body["fields"] == {"customer_id": ["This field is required."]}
    assert not Order.objects.exists()


def test_a_customer_cannot_check_out_for_another(
    other_customer: User, customer_api: JsonClient
) -> None:
    product = make_product(on_hand=2)

    resp = customer_api.post(
        ORDERS, checkout_body([(product.sku, 1)], customer_id=str(other_customer.id))
    )

    assert resp.status == 403
    assert resp.body["error"] == "permission_denied"
    assert not Order.objects.exists()
    assert _stock(product.sku) == (2, 0, 1)


def test_a_customer_may_name_themselves(customer: User, customer_api: JsonClient) -> None:
    product = make_product(on_hand=2)

    resp = customer_api.post(
        ORDERS, checkout_body([(product.sku, 1)], customer_id=str(customer.id))
    )

    assert resp.status == 201, resp.body


def test_a_shortage_stores_a_cancelled_order_and_nothing_else(customer_api: JsonClient) -> None:
    plenty = make_product(on_hand=10, price="3.00")
    scarce = make_product(on_hand=1, price="4.00")
    events_before = OutboxEvent.objects.count()

    resp = customer_api.post(ORDERS, checkout_body([(plenty.sku, 2), (scarce.sku, 3)]))

    assert resp.status == 409, resp.body
    assert resp.body["error"] == "insufficient_stock"
    assert resp.body["detail"] == "Insufficient stock."
    assert resp.body["shortages"] == [{"sku": scarce.sku, "requested": 3, "available": 1}]
    order = resp.body["order"]
    assert (order["status"], order["cancel_reason"]) == ("cancelled", "insufficient_stock")
    assert (order["payment_id"], order["reservation_id"], order["total"]) == (None, None, "18.00")
    assert Order.objects.get(id=order["id"]).status == "cancelled"
    _assert_nothing_behind(order["id"])
    assert _stock(plenty.sku) == (10, 0, 1)
    assert _stock(scarce.sku) == (1, 0, 1)
    new_events = OutboxEvent.objects.order_by("seq")[events_before:]
    assert [(e.aggregate_type, e.aggregate_id, e.version) for e in new_events] == [
        ("order", order["id"], 1)
    ]


@pytest.mark.parametrize(
    ("card_token", "status", "error", "cancel_reason", "extra"),
    [
        (
            "tok_decline_insufficient_funds",
            402,
            "payment_declined",
            "payment_declined",
            {"reason": "insufficient_funds"},
        ),
        ("tok_error", 502, "gateway_error", "payment_error", {}),
    ],
)
def test_a_refused_card_stores_a_cancelled_order_and_nothing_else(
    customer_api: JsonClient,
    card_token: str,
    status: int,
    error: str,
    cancel_reason: str,
    extra: dict[str, Any],
) -> None:
    product = make_product(on_hand=4, price="7.25")
    charges_before = len(gateway_charges())

    resp = customer_api.post(ORDERS, checkout_body([(product.sku, 2)], card_token=card_token))

    assert resp.status == status, resp.body
    order = resp.body.pop("order")
    detail = resp.body.pop("detail")
    assert resp.body == {"error": error, **extra}
    assert detail
    assert (order["status"], order["cancel_reason"], order["total"]) == (
        "cancelled",
        cancel_reason,
        "14.50",
    )
    assert (order["payment_id"], order["reservation_id"]) == (None, None)
    assert Order.objects.get(id=order["id"]).cancel_reason == cancel_reason
    _assert_nothing_behind(order["id"])
    assert _stock(product.sku) == (4, 0, 1)
    assert len(gateway_charges()) == charges_before


def test_an_unknown_sku_is_a_field_error_and_nothing_is_stored(customer_api: JsonClient) -> None:
    known = make_product(on_hand=5)
    missing = f"NOPE-{uuid.uuid4().hex[:6]}"
    events_before = OutboxEvent.objects.count()

    resp = customer_api.post(ORDERS, checkout_body([(known.sku, 1), (missing, 1), (missing, 2)]))

    assert resp.status == 400, resp.body
    assert resp.body == {
        "error": "validation_error",
        "detail": "Invalid input.",
        "fields": {"lines.1.sku": [f"Product '{missing}' not found."]},
    }
    assert not Order.objects.exists()
    assert not Reservation.objects.exists()
    assert not Payment.objects.exists()
    assert OutboxEvent.objects.count() == events_before
    assert _stock(known.sku) == (5, 0, 1)


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"card_token": "tok_visa"}, {"lines": ["This field is required."]}),
        ({"lines": [], "card_token": "tok_visa"}, {"lines": ["This list may not be empty."]}),
        (
            {"lines": [{"sku": "A", "quantity": 0}], "card_token": "tok_visa"},
            {"lines.0.quantity": ["Ensure this value is greater than or equal to 1."]},
        ),
        (
            {"lines": [{"sku": "bad sku!", "quantity": 1}], "card_token": "tok_visa"},
            {"lines.0.sku": ["This value does not match the required pattern."]},
        ),
        (
            {"lines": [{"sku": "A", "quantity": 1}], "card_token": "visa"},
            {"card_token": ["Not a card token (expected tok_ and [a-z0-9_])."]},
        ),
        (
            {"lines": [{"sku": "A", "quantity": 1}]},
            {"card_token": ["This field is required."]},
        ),
        (
            {"lines": [{"sku": "A", "quantity": 1}] * 101, "card_token": "tok_visa"},
            {"lines": ["Ensure this field has no more than 100 elements."]},
        ),
        (
            {"lines": [{"sku": "A", "quantity": 1}], "card_token": "tok_visa", "customer_id": "x"},
            {"customer_id": ["Must be a valid UUID."]},
        ),
    ],
)
def test_bad_bodies_are_field_errors(
    customer_api: JsonClient, body: dict[str, Any], fields: dict[str, list[str]]
) -> None:
    resp = customer_api.post(ORDERS, body)

    assert resp.status == 400, resp.body
    assert resp.body == {"error": "validation_error", "detail": "Invalid input.", "fields": fields}
    assert not Order.objects.exists()


def test_a_total_of_nothing_is_refused(customer_api: JsonClient) -> None:
    free = make_product(price="0.00", on_hand=3)

    resp = customer_api.post(ORDERS, checkout_body([(free.sku, 1)]))

    assert resp.status == 400
    assert resp.body["fields"] == {"lines": ["Ensure the order total is more than 0.00."]}
    assert not Order.objects.exists()
    assert _stock(free.sku) == (3, 0, 1)


def test_checkout_needs_a_caller(api: JsonClient) -> None:
    product = make_product(on_hand=2)

    resp = api.post(ORDERS, checkout_body([(product.sku, 1)]))

    assert resp.status == 401
    assert not Order.objects.exists()
