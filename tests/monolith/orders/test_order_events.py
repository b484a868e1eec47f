"""Every order write records, in its own transaction, one event per row it wrote with the row's
new version and full state; a refused or rolled-back checkout leaves no event at all."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.db import transaction

from contracts import events
from contracts.events import OrderState
from monolith.identity.models import User
from monolith.inventory.models import Product, Reservation
from monolith.inventory.selectors import reservation_get
from monolith.inventory.states import product_state, reservation_state
from monolith.orders.models import Order
from monolith.orders.selectors import order_get, order_states_after
from monolith.orders.services import order_checkout
from monolith.orders.states import order_state
from monolith.outbox.models import OutboxEvent
from monolith.payments.models import Payment
from monolith.payments.selectors import payment_get
from monolith.payments.states import payment_state
from tests.monolith.api_client import JsonClient
from tests.monolith.factories import make_product
from tests.monolith.orders.factories import ORDERS, checkout_body, order_path

pytestmark = pytest.mark.django_db


def _last_seq() -> int:
    last = OutboxEvent.objects.order_by("-seq").first()
    return last.seq if last else 0


def _current_state(event: OutboxEvent) -> dict[str, Any]:
    key = event.aggregate_id
    if event.aggregate_type == "product":
        return product_state(Product.objects.get(sku=key))
    if event.aggregate_type == "reservation":
        return reservation_state(reservation_get(reservation_id=uuid.UUID(key)))
    if event.aggregate_type == "payment":
        return payment_state(payment_get(payment_id=uuid.UUID(key), customer_id=None))
    return order_state(order_get(order_id=uuid.UUID(key), scope=None))


Pair = tuple[str, str, str, int]


def test_every_order_write_records_one_event_per_row_with_its_new_version(
    customer: User, customer_api: JsonClient, staff_api: JsonClient
) -> None:
    """Walk checkout (confirmed and cancelled), cancel and fulfil; after each, the new events are
    exactly (row, version) of the rows it wrote, each payload that row's full state as it is now,
    and the order's payload a valid ``OrderState``."""
    product = make_product(on_hand=3, price="5.00")
    sku = product.sku

    def step(
        method_path: str, body: dict[str, Any] | None, client: JsonClient, status: int
    ) -> tuple[dict[str, Any], list[Pair]]:
        before = _last_seq()
        resp = client.post(method_path, body)
        assert resp.status == status, resp.body
        new = list(OutboxEvent.objects.filter(seq__gt=before).order_by("seq"))
        for event in new:
            assert event.payload == _current_state(event), event
            assert event.origin == "monolith"
        for event in new:
            if event.aggregate_type == "order":
                OrderState.model_validate(event.payload)
        pairs = [(e.aggregate_type, e.aggregate_id, e.event_type, e.version) for e in new]
        return resp.body, pairs

    placed, pairs = step(ORDERS, checkout_body([(sku, 2)]), customer_api, 201)
    order_id, reservation_id, payment_id = (
        placed["id"],
        placed["reservation_id"],
        placed["payment_id"],
    )
    assert pairs == [
        ("product", sku, events.PRODUCT_RESERVED_CHANGED, 2),
        ("reservation", reservation_id, events.RESERVATION_CREATED, 1),
        ("payment", payment_id, events.PAYMENT_CAPTURED, 1),
        ("order", order_id, events.ORDER_PLACED, 1),
    ]

    refused, pairs = step(ORDERS, checkout_body([(sku, 2)]), customer_api, 409)
    assert pairs == [("order", refused["order"]["id"], events.ORDER_PLACED, 1)]

    _, pairs = step(order_path(order_id, "cancel"), None, customer_api, 200)
    assert pairs == [
        ("payment", payment_id, events.PAYMENT_REFUNDED, 2),
        ("product", sku, events.PRODUCT_RESERVED_CHANGED, 3),
        ("reservation", reservation_id, events.RESERVATION_RELEASED, 2),
        ("order", order_id, events.ORDER_CANCELLED, 2),
    ]

    second, pairs = step(ORDERS, checkout_body([(sku, 1)]), customer_api, 201)
    _, pairs = step(order_path(second["id"], "fulfil"), None, staff_api, 200)
    assert pairs == [
        ("product", sku, events.PRODUCT_STOCK_COMMITTED, 5),
        ("reservation", second["reservation_id"], events.RESERVATION_COMMITTED, 2),
        ("order", second["id"], events.ORDER_FULFILLED, 2),
    ]

    # Every order's events count its versions 1..n with no gap.
    for order in Order.objects.all():
        versions = OutboxEvent.objects.filter(aggregate_id=str(order.id)).order_by("seq")
        assert list(versions.values_list("version", flat=True)) == list(range(1, order.version + 1))


def test_a_rolled_back_checkout_leaves_no_row_and_no_event(customer: User) -> None:
    product = make_product(on_hand=3)
    before = _last_seq()

    class Abort(Exception):
        pass

    with pytest.raises(Abort), transaction.atomic():
        result = order_checkout(
            customer_id=customer.id, lines=[(product.sku, 1)], card_token="tok_visa"
        )
        assert result.order.status == "confirmed"
        assert OutboxEvent.objects.filter(seq__gt=before).count() == 4
        raise Abort

    assert not OutboxEvent.objects.filter(seq__gt=before).exists()
    assert not Order.objects.exists()
    assert not Reservation.objects.exists()
    assert not Payment.objects.exists()
    product.refresh_from_db()
    assert (product.reserved, product.version) == (0, 1)


def test_a_dry_run_checkout_answers_like_the_real_one_and_keeps_nothing(
    customer_api: JsonClient,
) -> None:
    product = make_product(on_hand=3, price="2.50")
    before = _last_seq()

    resp = customer_api.post(
        ORDERS, checkout_body([(product.sku, 2)]), headers={"X-Strangler-Dry-Run": "1"}
    )

    assert resp.status == 201, resp.body
    assert (resp.body["status"], resp.body["total"]) == ("confirmed", "5.00")
    assert resp.headers["X-Strangler-Dry-Run"] == "rolled-back"
    assert not OutboxEvent.objects.filter(seq__gt=before).exists()
    assert not Order.objects.exists()
    product.refresh_from_db()
    assert product.reserved == 0


def test_the_backfill_pages_carry_the_same_state_as_the_last_event(customer: User) -> None:
    product = make_product(on_hand=10)
    ids = sorted(
        str(
            order_checkout(
                customer_id=customer.id, lines=[(product.sku, 1)], card_token="tok_visa"
            ).order.id
        )
        for _ in range(3)
    )

    first = order_states_after(after_key=None, limit=2)
    rest = order_states_after(after_key=first[-1]["id"], limit=2)

    assert [row["id"] for row in first + rest] == ids
    for row in first + rest:
        last = OutboxEvent.objects.filter(aggregate_id=row["id"]).order_by("-seq").first()
        assert last is not None and last.payload == row
    assert order_states_after(after_key=ids[-1], limit=2) == []
