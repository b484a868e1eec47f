"""The orders' ports (branch by abstraction, docs/branch-by-abstraction.md) inside the monolith:
which adapter the capability's direction picks, and a remote step whose owner cannot be reached
(the façade is a closed port here): the checkout compensates what the in-process step did,
stores no order, answers 503 naming the capability, and frees the client's Idempotency-Key.
The same against real services behind a real proxy: tests/e2e/test_monolith_ports.py."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from django.test import override_settings
from django.utils import timezone

from monolith.identity.models import User
from monolith.inventory.models import Product
from monolith.orders.models import Order, OrderProgress
from monolith.orders.port_choice import adapter_for
from monolith.reverse_sync.direction import direction_set, require_resumable, require_writable
from monolith.reverse_sync.errors import CapabilityFrozen
from tests.monolith.api_client import JsonClient
from tests.monolith.factories import bearer, make_product
from tests.monolith.orders.factories import ORDERS, checkout_body
from tests.support.ports import free_port


def test_the_direction_picks_the_adapter() -> None:
    assert adapter_for("payments", "forward") == "in_process"
    assert adapter_for("payments", "reverse") == "remote"
    with pytest.raises(CapabilityFrozen) as frozen:
        adapter_for("payments", "frozen")
    assert frozen.value.retry_after_s == 1
    assert "payments" in frozen.value.detail


@pytest.mark.django_db(transaction=True)
def test_a_remote_charge_that_cannot_be_sent_releases_the_reservation_and_stores_nothing(
    api: JsonClient, customer: User
) -> None:
    product = make_product(on_hand=10)
    direction_set(capability="payments", direction="reverse")
    headers = {**bearer(customer), "Idempotency-Key": "checkout-1"}
    with override_settings(FACADE_URL=f"http://127.0.0.1:{free_port()}", ORDERS_REMOTE_ATTEMPTS=1):
        refused = api.post(ORDERS, checkout_body([(product.sku, 2)]), headers=headers)
    assert (refused.status, refused.body["error"]) == (503, "unavailable")
    assert refused.headers.get("Retry-After") == "1"
    assert "payments" in refused.body["detail"]
    assert Order.objects.count() == 0
    product = Product.objects.get(sku=product.sku)
    assert (product.on_hand, product.reserved) == (10, 0)  # reserved here, then released
    [progress] = OrderProgress.objects.all()
    assert (progress.finished, progress.failure, progress.reservation, progress.payment) == (
        True,
        "unavailable",
        "undone",
        "none",  # the connection was refused: surely never charged
    )
    assert progress.card_token is None
    # The key was freed: once payments is back here, the same key checks out.
    direction_set(capability="payments", direction="forward")
    placed = api.post(ORDERS, checkout_body([(product.sku, 2)]), headers=headers)
    assert (placed.status, placed.body["status"]) == (201, "confirmed")


@pytest.mark.django_db
def test_an_open_remote_order_write_holds_the_orders_drain_and_may_end_while_frozen(
    api: JsonClient, customer: User
) -> None:
    """The forward drain of an orders switch reads ``in_flight`` from the outbox tail; a write
    accepted before the freeze may still store its order while frozen (not once reverse)."""
    now = timezone.now()
    progress = OrderProgress.objects.create(
        kind="checkout",
        order_id=uuid.uuid4(),
        state="charging",
        customer_id=customer.id,
        total=Decimal("3.00"),
        next_attempt_at=now,
        created_at=now,
        updated_at=now,
    )

    def in_flight() -> int:
        tail = api.get("/internal/outbox/tail?capability=orders")
        assert tail.status == 200, tail.body
        return int(tail.body["in_flight"])

    assert in_flight() == 1
    direction_set(capability="orders", direction="frozen")
    require_resumable("orders")  # taken while frozen: the drain waits for it
    with pytest.raises(CapabilityFrozen):
        require_writable("orders")  # a new write is not
    direction_set(capability="orders", direction="reverse")
    with pytest.raises(CapabilityFrozen):
        require_resumable("orders")
    OrderProgress.objects.filter(id=progress.id).update(finished=True)
    assert in_flight() == 0
