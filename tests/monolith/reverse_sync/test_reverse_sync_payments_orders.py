"""Reverse sync of payments and orders on the monolith's side: the inbox applies the payments and
orders services' events (refunds and lines included, compare-and-set, **no outbox event**), an
order arriving before its payment is applied at once (ids, not foreign keys), the monolith's own
events are refused, and the monolith's payments and orders writes answer 503 while the
capability is frozen or reverse."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import pytest
from django.db import IntegrityError

from monolith.identity.models import User
from monolith.orders.models import Order
from monolith.outbox.models import OutboxEvent
from monolith.payments.models import Payment
from monolith.reverse_sync.direction import direction_set
from monolith.reverse_sync.errors import SyncInputError
from monolith.reverse_sync.inbox import apply_event, apply_events
from monolith.reverse_sync.models import DeadLetter, InboxEvent
from tests.monolith.api_client import JsonClient
from tests.monolith.factories import bearer, make_payment, make_product
from tests.monolith.orders.factories import ORDERS, checkout_body, make_order, order_path
from tests.support.payments_api import PAYMENTS, idempotency_key, payment_body, payment_path
from tests.support.sync_states import from_service, order_state, payment_state

pytestmark = pytest.mark.django_db


def _payment_event(**kwargs: Any) -> dict[str, Any]:
    return from_service(payment_state(**kwargs), "payment", origin="payments")


def _order_event(**kwargs: Any) -> dict[str, Any]:
    return from_service(order_state(**kwargs), "order", origin="orders")


def test_a_payment_state_is_applied_with_its_refunds_once_and_records_no_outbox_event() -> None:
    before = OutboxEvent.objects.count()
    captured = _payment_event(version=2, amount="30.00")
    assert apply_event(captured) == "applied"
    assert apply_event(captured) == "duplicate"
    payment_id = str(captured["aggregate_id"])
    refunded = _payment_event(payment_id=payment_id, version=4, amount="30.00", refunds=("10.00",))
    older = _payment_event(payment_id=payment_id, version=1, amount="30.00")
    assert apply_events([refunded, older]) == ["applied", "stale"]  # v1 is older than v2 here
    payment = Payment.objects.get(id=payment_id)
    assert (payment.version, payment.status, payment.refunded_amount) == (
        4,
        "captured",
        Decimal("10.00"),
    )
    assert [(str(r.id), r.amount) for r in payment.refunds.all()] == [
        (r["id"], Decimal(r["amount"])) for r in refunded["payload"]["refunds"]
    ]
    full = _payment_event(
        payment_id=payment_id, version=5, amount="30.00", refunds=("10.00", "20.00")
    )
    assert apply_event(full) == "applied"
    assert Payment.objects.get(id=payment_id).status == "refunded"
    assert Payment.objects.get(id=payment_id).refunds.count() == 2
    assert OutboxEvent.objects.count() == before  # nothing applied travels forward: no loop


def test_an_order_state_is_applied_with_its_lines_and_records_no_outbox_event() -> None:
    before = OutboxEvent.objects.count()
    placed = _order_event(lines=(("SKU-B", 1), ("SKU-A", 3)))
    assert apply_event(placed) == "applied"
    order_id = str(placed["aggregate_id"])
    order = Order.objects.get(id=order_id)
    assert [(line.sku, line.quantity) for line in order.lines.all()] == [
        ("SKU-A", 3),
        ("SKU-B", 1),
    ]
    assert (order.status, order.total) == ("confirmed", Decimal("10.00"))
    cancelled = _order_event(
        order_id=order_id, version=2, status="cancelled", lines=(("SKU-B", 1), ("SKU-A", 3))
    )
    assert apply_event(cancelled) == "applied"
    assert apply_event(_order_event(order_id=order_id, version=1)) == "stale"
    order = Order.objects.get(id=order_id)
    assert (order.status, order.cancel_reason, order.version) == (
        "cancelled",
        "cancelled_by_customer",
        2,
    )
    assert order.lines.count() == 2
    assert OutboxEvent.objects.count() == before


def test_an_order_arriving_before_its_payment_is_applied_and_the_payment_later() -> None:
    payment_id, order_id = str(uuid.uuid4()), str(uuid.uuid4())
    order = _order_event(order_id=order_id, payment_id=payment_id)
    payment = _payment_event(payment_id=payment_id, order_id=order_id)
    assert apply_events([order]) == ["applied"]  # its payment is not here: nothing to wait for
    assert Order.objects.get(id=order_id).payment_id == uuid.UUID(payment_id)
    assert not Payment.objects.filter(id=payment_id).exists()
    assert apply_events([payment]) == ["applied"]
    assert Payment.objects.get(id=payment_id).order_id == uuid.UUID(order_id)
    assert (
        InboxEvent.objects.filter(event_id__in=[order["event_id"], payment["event_id"]])
        .filter(outcome="applied")
        .count()
        == 2
    )
    assert DeadLetter.objects.count() == 0


def test_the_monoliths_own_events_and_states_that_break_a_rule_are_refused() -> None:
    own = from_service(payment_state(), "payment", origin="monolith")
    with pytest.raises(SyncInputError, match="loop"):
        apply_event(own)
    with pytest.raises(SyncInputError, match="loop"):
        apply_event(from_service(order_state(), "order", origin="monolith"))
    # Refunded above what was captured: the check constraint refuses it, nothing is kept.
    broken = payment_state(amount="10.00")
    broken["refunded_amount"] = "20.00"
    event = from_service(broken, "payment", origin="payments")
    with pytest.raises(IntegrityError):
        apply_event(event)
    assert not Payment.objects.filter(id=broken["id"]).exists()
    assert not InboxEvent.objects.filter(event_id=event["event_id"]).exists()


def test_frozen_or_reverse_payments_writes_answer_503_and_change_nothing(
    api: JsonClient, customer: User
) -> None:
    headers = bearer(customer)
    payment = make_payment(customer_id=customer.id, capture=True)
    key = idempotency_key()
    first = api.post(PAYMENTS, payment_body(), headers={**headers, **key})
    assert first.status == 201
    for direction in ("frozen", "reverse"):
        direction_set(capability="payments", direction=direction)
        before = (OutboxEvent.objects.count(), Payment.objects.count())
        for path, body, extra in (
            (PAYMENTS, payment_body(), {}),
            (PAYMENTS, payment_body(), idempotency_key()),
            (payment_path(payment.id, "refunds"), {"amount": "1.00"}, {}),
            (payment_path(first.body["id"], "capture"), None, {}),
        ):
            refused = api.post(path, body, headers={**headers, **extra})
            assert refused.status == 503, (path, refused.body)
            assert refused.headers["Retry-After"] == "1"
            assert refused.body["error"] == "unavailable"
            assert "payments" in refused.body["detail"]
        assert (OutboxEvent.objects.count(), Payment.objects.count()) == before
        assert api.get(payment_path(payment.id), headers=headers).status == 200
        # A request that ran before the freeze is still answered from its key.
        replayed = api.post(PAYMENTS, payment_body(), headers={**headers, **key})
        assert (replayed.status, replayed.body) == (201, first.body)
    direction_set(capability="payments", direction="forward")
    refund = api.post(payment_path(payment.id, "refunds"), {"amount": "1.00"}, headers=headers)
    assert refund.status == 201


def test_frozen_or_reverse_orders_writes_answer_503_and_change_nothing(
    api: JsonClient, customer: User
) -> None:
    headers = bearer(customer)
    product = make_product(on_hand=10)
    order = make_order(customer_id=customer.id, lines=[(product.sku, 1)])
    staff = bearer(User.objects.create(username=f"staff-{uuid.uuid4().hex[:8]}", is_staff=True))
    for direction in ("frozen", "reverse"):
        direction_set(capability="orders", direction=direction)
        before = (OutboxEvent.objects.count(), Order.objects.count())
        refused = [
            api.post(ORDERS, checkout_body([(product.sku, 1)]), headers=headers),
            api.post(order_path(order.id, "cancel"), headers=headers),
            api.post(order_path(order.id, "fulfil"), headers=staff),
        ]
        assert [(r.status, r.headers.get("Retry-After")) for r in refused] == [(503, "1")] * 3
        assert all("orders" in r.body["detail"] for r in refused)
        assert (OutboxEvent.objects.count(), Order.objects.count()) == before
        assert api.get(order_path(order.id), headers=headers).status == 200
    direction_set(capability="orders", direction="forward")
    assert api.post(order_path(order.id, "cancel"), headers=headers).status == 200
