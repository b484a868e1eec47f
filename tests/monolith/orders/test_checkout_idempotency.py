"""``Idempotency-Key`` on checkout: a repeat replays the first answer and charges once."""

from __future__ import annotations

import pytest

from monolith.identity.models import User
from monolith.inventory.models import Product, Reservation
from monolith.orders.models import Order
from monolith.payments.gateway import gateway_charges
from monolith.payments.models import Payment
from tests.monolith.api_client import JsonClient
from tests.monolith.factories import make_product
from tests.monolith.orders.factories import ORDERS, checkout_body
from tests.support.random_refs import random_suffix

pytestmark = pytest.mark.django_db


def test_a_repeated_checkout_replays_the_order_and_charges_once(
    customer: User, customer_api: JsonClient
) -> None:
    product = make_product(on_hand=5, price="6.00")
    key = {"Idempotency-Key": f"checkout-{random_suffix()}"}
    body = checkout_body([(product.sku, 2)])

    first = customer_api.post(ORDERS, body, headers=key)
    again = customer_api.post(ORDERS, body, headers=key)

    assert (first.status, again.status) == (201, 201)
    assert again.raw == first.raw
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert Order.objects.filter(customer_id=customer.id).count() == 1
    payment = Payment.objects.get(order_id=first.body["id"])
    assert len(gateway_charges(payment_id=payment.id)) == 1
    assert Reservation.objects.filter(order_id=first.body["id"]).count() == 1
    assert Product.objects.get(sku=product.sku).reserved == 2


def test_a_repeated_refused_checkout_replays_the_same_cancelled_order(
    customer: User, customer_api: JsonClient
) -> None:
    product = make_product(on_hand=1)
    key = {"Idempotency-Key": f"checkout-{random_suffix()}"}
    body = checkout_body([(product.sku, 2)])

    first = customer_api.post(ORDERS, body, headers=key)
    again = customer_api.post(ORDERS, body, headers=key)

    assert (first.status, again.status) == (409, 409)
    assert again.body == first.body
    assert Order.objects.filter(customer_id=customer.id).count() == 1


def test_the_same_key_with_another_cart_is_refused_and_runs_nothing(
    customer: User, customer_api: JsonClient
) -> None:
    product = make_product(on_hand=5)
    key = {"Idempotency-Key": f"checkout-{random_suffix()}"}
    assert customer_api.post(ORDERS, checkout_body([(product.sku, 1)]), headers=key).status == 201

    resp = customer_api.post(ORDERS, checkout_body([(product.sku, 2)]), headers=key)

    assert resp.status == 422
    assert resp.body["error"] == "idempotency_key_reused"
    assert Order.objects.filter(customer_id=customer.id).count() == 1
    assert Product.objects.get(sku=product.sku).reserved == 1


def test_keys_belong_to_their_caller(customer: User, other_customer: User, api_as: object) -> None:
    assert callable(api_as)
    product = make_product(on_hand=5)
    key = {"Idempotency-Key": f"checkout-{random_suffix()}"}
    body = checkout_body([(product.sku, 1)])

    mine = api_as(customer).post(ORDERS, body, headers=key)
    theirs = api_as(other_customer).post(ORDERS, body, headers=key)

    assert (mine.status, theirs.status) == (201, 201)
    assert mine.body["id"] != theirs.body["id"]
    assert theirs.body["customer_id"] == str(other_customer.id)


def test_a_request_refused_before_it_ran_may_be_retried_with_its_key(
    customer_api: JsonClient,
) -> None:
    product = make_product(on_hand=5)
    key = {"Idempotency-Key": f"checkout-{random_suffix()}"}
    unknown = checkout_body([("NO-SUCH-SKU", 1)])
    assert customer_api.post(ORDERS, unknown, headers=key).status == 400

    fixed = customer_api.post(ORDERS, checkout_body([(product.sku, 1)]), headers=key)

    assert fixed.status == 201, fixed.body
