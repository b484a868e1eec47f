"""Checkouts racing on PostgreSQL with real concurrent connections (one per thread).

To make each race certain rather than likely, the test holds the product's row lock itself,
starts both checkouts, waits until PostgreSQL reports both blocked on that lock, and lets go:
both then compete for the last unit at the same moment.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable

import pytest

from monolith.identity.models import User
from monolith.inventory.models import Product, Reservation
from monolith.orders.models import Order
from monolith.orders.services import CheckoutResult, order_checkout
from monolith.payments.gateway import gateway_charges
from monolith.payments.models import Payment
from tests.monolith.api_client import JsonClient, JsonResponse
from tests.monolith.databases import require_postgres
from tests.monolith.factories import make_product
from tests.monolith.orders.factories import ORDERS, checkout_body
from tests.monolith.races import hold_products, race

pytestmark = pytest.mark.django_db(transaction=True)

RACES = 5


def test_two_checkouts_racing_for_the_last_unit_exactly_one_confirms_on_postgres() -> None:
    require_postgres()
    for _ in range(RACES):
        product = make_product(on_hand=1, price="9.99")
        customers = [uuid.uuid4(), uuid.uuid4()]

        def checkout(customer_id: uuid.UUID, sku: str = product.sku) -> CheckoutResult:
            return order_checkout(customer_id=customer_id, lines=[(sku, 1)], card_token="tok_visa")

        raced = race(
            [functools.partial(checkout, c) for c in customers], hold=hold_products(product.sku)
        )

        outcomes = [o for o in raced if isinstance(o, CheckoutResult)]
        assert len(outcomes) == len(raced), raced
        statuses = sorted((o.order.status, o.order.cancel_reason) for o in outcomes)
        assert statuses == [("cancelled", "insufficient_stock"), ("confirmed", None)]
        loser = next(o for o in outcomes if o.order.status == "cancelled")
        assert [(s.sku, s.requested, s.available) for s in loser.shortages] == [(product.sku, 1, 0)]
        row = Product.objects.get(sku=product.sku)
        assert (row.on_hand, row.reserved) == (1, 1)
        assert 0 <= row.reserved <= row.on_hand
        winner = next(o.order for o in outcomes if o.order.status == "confirmed")
        assert list(
            Reservation.objects.filter(lines__product=row).values_list("order_id", flat=True)
        ) == [winner.id]
        assert list(
            Payment.objects.filter(order_id__in=[o.order.id for o in outcomes]).values_list(
                "order_id", flat=True
            )
        ) == [winner.id]
        assert Order.objects.filter(id__in=[o.order.id for o in outcomes]).count() == 2


def test_the_same_checkout_sent_twice_at_once_places_one_order_and_charges_once_on_postgres(
    customer: User, api_as: Callable[[User], JsonClient]
) -> None:
    """The second request waits on the first one's ``Idempotency-Key`` record (which waits on the
    product lock this test holds), then replays its answer."""
    require_postgres()
    product = make_product(on_hand=5, price="4.00")
    key = {"Idempotency-Key": f"race-{uuid.uuid4().hex}"}
    body = checkout_body([(product.sku, 1)])

    def send() -> JsonResponse:
        return api_as(customer).post(ORDERS, body, headers=key)

    first, second = race([send, send], hold=hold_products(product.sku))

    assert isinstance(first, JsonResponse) and isinstance(second, JsonResponse), (first, second)
    assert (first.status, second.status) == (201, 201)
    assert first.raw == second.raw
    replayed = [r.headers.get("Idempotent-Replayed") for r in (first, second)]
    assert sorted(replayed, key=str) == sorted([None, "true"], key=str)
    order = Order.objects.get(customer_id=customer.id)
    assert str(order.id) == first.body["id"]
    payment = Payment.objects.get(order_id=order.id)
    assert len(gateway_charges(payment_id=payment.id)) == 1
    assert Product.objects.get(sku=product.sku).reserved == 1
