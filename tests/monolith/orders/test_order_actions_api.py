"""``POST /api/orders/{id}/cancel/`` (refund + release) and ``POST /api/orders/{id}/fulfil/``
(commit the stock; staff only)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from monolith.identity.models import User
from monolith.inventory.models import Product, Reservation
from monolith.orders.models import Order
from monolith.payments.models import Payment
from monolith.payments.services import payment_refund
from tests.monolith.api_client import JsonClient
from tests.monolith.factories import make_product
from tests.monolith.orders.factories import make_order, order_path

pytestmark = pytest.mark.django_db


def _placed(customer: User, *, on_hand: int = 5, quantity: int = 2) -> tuple[Order, Product]:
    product = make_product(price="8.40", on_hand=on_hand)
    order = make_order(customer_id=customer.id, lines=[(product.sku, quantity)])
    assert order.status == "confirmed"
    return order, product


def _payment(order: Order) -> Payment:
    assert order.payment_id is not None
    return Payment.objects.get(id=order.payment_id)


def _reservation(order: Order) -> Reservation:
    assert order.reservation_id is not None
    return Reservation.objects.get(id=order.reservation_id)


def _stock(product: Product) -> tuple[int, int]:
    product.refresh_from_db()
    return product.on_hand, product.reserved


def test_a_customer_cancels_their_order_refund_and_release(
    customer: User, customer_api: JsonClient
) -> None:
    order, product = _placed(customer)
    assert _stock(product) == (5, 2)

    resp = customer_api.post(order_path(order.id, "cancel"))

    assert resp.status == 200, resp.body
    assert (resp.body["status"], resp.body["cancel_reason"], resp.body["version"]) == (
        "cancelled",
        "cancelled_by_customer",
        2,
    )
    assert (resp.body["payment_id"], resp.body["reservation_id"]) == (
        str(order.payment_id),
        str(order.reservation_id),
    )
    payment = _payment(order)
    assert (payment.status, payment.refunded_amount) == ("refunded", Decimal("16.80"))
    assert [r.amount for r in payment.refunds.all()] == [Decimal("16.80")]
    assert _reservation(order).status == "released"
    assert _stock(product) == (5, 0)


def test_staff_cancel_any_order(customer: User, staff_api: JsonClient) -> None:
    order, product = _placed(customer)

    resp = staff_api.post(order_path(order.id, "cancel"))

    assert resp.status == 200, resp.body
    assert resp.body["cancel_reason"] == "cancelled_by_staff"
    assert _stock(product) == (5, 0)


def test_cancelling_twice_is_an_invalid_state(customer: User, customer_api: JsonClient) -> None:
    order, _ = _placed(customer)
    assert customer_api.post(order_path(order.id, "cancel")).status == 200

    resp = customer_api.post(order_path(order.id, "cancel"))

    assert resp.status == 409
    assert resp.body == {
        "error": "invalid_state",
        "detail": "Order is cancelled, expected confirmed.",
        "status": "cancelled",
    }
    assert Order.objects.get(id=order.id).version == 2
    assert _payment(order).refunds.count() == 1


def test_a_cancel_after_a_full_refund_elsewhere_only_releases(
    customer: User, customer_api: JsonClient
) -> None:
    order, product = _placed(customer)
    assert order.payment_id is not None
    payment_refund(payment_id=order.payment_id)

    resp = customer_api.post(order_path(order.id, "cancel"))

    assert resp.status == 200, resp.body
    assert _payment(order).refunds.count() == 1
    assert _stock(product) == (5, 0)


def test_another_customers_order_cannot_be_cancelled_and_is_not_revealed(
    other_customer: User, customer_api: JsonClient
) -> None:
    order, product = _placed(other_customer)

    resp = customer_api.post(order_path(order.id, "cancel"))

    assert resp.status == 404
    assert resp.body == {"error": "not_found", "detail": f"Order '{order.id}' not found."}
    assert Order.objects.get(id=order.id).status == "confirmed"
    assert _stock(product) == (5, 2)


def test_staff_fulfil_an_order_and_the_stock_leaves(customer: User, staff_api: JsonClient) -> None:
    order, product = _placed(customer)

    resp = staff_api.post(order_path(order.id, "fulfil"))

    assert resp.status == 200, resp.body
    assert (resp.body["status"], resp.body["cancel_reason"], resp.body["version"]) == (
        "fulfilled",
        None,
        2,
    )
    assert _reservation(order).status == "committed"
    assert _stock(product) == (3, 0)
    assert _payment(order).status == "captured"


def test_a_fulfilled_order_can_be_neither_fulfilled_again_nor_cancelled(
    customer: User, staff_api: JsonClient
) -> None:
    order, product = _placed(customer)
    assert staff_api.post(order_path(order.id, "fulfil")).status == 200

    again = staff_api.post(order_path(order.id, "fulfil"))
    cancel = staff_api.post(order_path(order.id, "cancel"))

    assert (again.status, cancel.status) == (409, 409)
    assert again.body["status"] == cancel.body["status"] == "fulfilled"
    assert _stock(product) == (3, 0)


def test_the_owner_may_not_fulfil_others_do_not_see_the_order(
    customer: User, other_customer: User, api_as: object
) -> None:
    order, product = _placed(customer)
    assert callable(api_as)

    owner = api_as(customer).post(order_path(order.id, "fulfil"))
    stranger = api_as(other_customer).post(order_path(order.id, "fulfil"))

    assert owner.status == 403
    assert owner.body == {
        "error": "permission_denied",
        "detail": "Only staff may fulfil orders.",
    }
    assert stranger.status == 404
    assert stranger.body == {"error": "not_found", "detail": f"Order '{order.id}' not found."}
    assert Order.objects.get(id=order.id).status == "confirmed"
    assert _stock(product) == (5, 2)


def test_actions_need_a_caller(customer: User, api: JsonClient) -> None:
    order, _ = _placed(customer)

    assert api.post(order_path(order.id, "cancel")).status == 401
    assert api.post(order_path(order.id, "fulfil")).status == 401
    assert Order.objects.get(id=order.id).version == 1
