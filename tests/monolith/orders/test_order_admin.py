"""The orders admin writes only through the services: its cancel and fulfil actions refund,
release or commit and record their events like the API; orders cannot be added or edited there."""

from __future__ import annotations

import uuid

import pytest
from django.test import Client

from contracts import events
from monolith.inventory.models import Product
from monolith.orders.models import Order
from monolith.outbox.models import OutboxEvent
from monolith.payments.models import Payment
from tests.monolith.factories import make_product
from tests.monolith.orders.factories import make_order

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/orders/order/"


def _placed(quantity: int = 1) -> tuple[Order, Product]:
    product = make_product(on_hand=5)
    return make_order(customer_id=uuid.uuid4(), lines=[(product.sku, quantity)]), product


def test_the_cancel_action_cancels_confirmed_orders_through_the_service(
    admin_client: Client,
) -> None:
    order, product = _placed(2)
    refused, _ = _placed()
    refused_version = refused.version
    admin_client.post(CHANGELIST, {"action": "fulfil_selected", "_selected_action": [refused.id]})

    resp = admin_client.post(
        CHANGELIST, {"action": "cancel_selected", "_selected_action": [order.id, refused.id]}
    )

    assert resp.status_code == 302
    order.refresh_from_db()
    assert (order.status, order.cancel_reason, order.version) == (
        "cancelled",
        "cancelled_by_staff",
        2,
    )
    assert Payment.objects.get(order_id=order.id).status == "refunded"
    product.refresh_from_db()
    assert product.reserved == 0
    last = OutboxEvent.objects.filter(aggregate_id=str(order.id)).order_by("-seq").first()
    assert last is not None and (last.event_type, last.version) == (events.ORDER_CANCELLED, 2)
    # the fulfilled one is not confirmed any more: left alone
    assert Order.objects.get(id=refused.id).status == "fulfilled"
    assert Order.objects.get(id=refused.id).version == refused_version + 1


def test_orders_are_view_only_in_the_admin(admin_client: Client) -> None:
    order, _ = _placed()

    page = admin_client.get(f"{CHANGELIST}{order.id}/change/")
    add = admin_client.get(f"{CHANGELIST}add/")

    assert page.status_code == 200
    assert order.lines.get().sku.encode() in page.content
    assert add.status_code == 403
