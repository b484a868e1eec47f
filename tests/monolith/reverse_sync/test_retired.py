"""The monolith once a capability is retired (the cord is cut): the direction never leaves
``retired`` and is reached only from ``reverse`` (409, the contract's body), the API refuses the
capability's writes as a ``reverse`` owner does while reads go on, the database itself refuses
writes to every table of the capability (migration ``0003_retired``'s triggers), and the inbox
ignores the capability's events: nothing written, nothing parked."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.apps import apps
from django.db import DatabaseError, connection, transaction
from django.utils.timezone import now

from monolith.inventory.models import Product
from monolith.orders.port_choice import adapter_for
from monolith.outbox.models import OutboxEvent
from monolith.payments.models import Payment
from monolith.reverse_sync.direction import direction_get, direction_set, require_resumable
from monolith.reverse_sync.errors import CapabilityFrozen
from monolith.reverse_sync.inbox import apply_event, apply_events
from monolith.reverse_sync.models import DeadLetter, InboxEvent
from tests.extracted.inventory.factories import envelope, product_state
from tests.monolith.api_client import JsonClient
from tests.monolith.factories import make_payment, make_product
from tests.support.inventory_api import PRODUCTS, adjustment_body, adjustments_path, product_body
from tests.support.random_refs import random_sku
from tests.support.sync_states import from_service, payment_state

pytestmark = pytest.mark.django_db

DIRECTION = "/internal/sync/direction/inventory"
#: The app holding each capability's tables.
CAPABILITY_APPS = {"inventory": "inventory", "payments": "payments", "orders": "orders"}


def _retire(capability: str) -> None:
    direction_set(capability=capability, direction="reverse")
    direction_set(capability=capability, direction="retired")


def _refused_by_the_database(write: Callable[[], Any]) -> str:
    """The database's refusal of ``write`` (in a savepoint, so the test's transaction goes on)."""
    with pytest.raises(DatabaseError) as caught, transaction.atomic():
        write()
    return str(caught.value)


def _product_event(**kwargs: Any) -> dict[str, Any]:
    return {**envelope(product_state(**kwargs)), "origin": "inventory"}


def test_retired_is_reached_only_from_reverse_and_never_left(internal_api: JsonClient) -> None:
    for before in ("forward", "frozen"):
        direction_set(capability="inventory", direction=before)
        refused = internal_api.send("PUT", DIRECTION, {"direction": "retired"})
        assert refused.status == 409
        assert refused.body == {
            "error": "conflict",
            "detail": "Cannot move inventory to retired: only a reverse capability can be "
            f"retired, this one is {before}.",
        }
        assert direction_get(capability="inventory").direction == before

    direction_set(capability="inventory", direction="reverse")
    moved = internal_api.send("PUT", DIRECTION, {"direction": "retired"})
    assert (moved.status, moved.body["direction"]) == (200, "retired")
    for target in ("forward", "frozen", "reverse"):
        refused = internal_api.send("PUT", DIRECTION, {"direction": target})
        assert refused.status == 409
        assert refused.body["error"] == "conflict"
        assert "it never moves to" in refused.body["detail"]
    again = internal_api.send("PUT", DIRECTION, {"direction": "retired"})  # idempotent
    assert (again.status, again.body["direction"]) == (200, "retired")
    assert internal_api.get(DIRECTION).body["direction"] == "retired"
    # The other capabilities are not touched.
    assert direction_get(capability="payments").direction == "forward"


def test_a_retired_capability_refuses_writes_like_reverse_and_serves_reads(
    stock_api: JsonClient,
) -> None:
    product = make_product(on_hand=10)
    _retire("inventory")
    before = OutboxEvent.objects.count()

    refused = stock_api.post(adjustments_path(product.sku), adjustment_body(delta=1))
    assert refused.status == 503
    assert refused.headers["Retry-After"] == "1"
    assert refused.body == {
        "error": "unavailable",
        "detail": "Writes of inventory are read-only here for good: inventory is retired.",
    }
    assert stock_api.post(PRODUCTS, product_body()).status == 503
    assert OutboxEvent.objects.count() == before
    read = stock_api.get(f"{PRODUCTS}{product.sku}/")
    assert (read.status, read.body["on_hand"]) == (200, 10)
    assert stock_api.get(PRODUCTS).status == 200
    # A write completing one accepted earlier is refused too; the monolith's own checkout
    # reaches the retired capability remotely, at its service.
    with pytest.raises(CapabilityFrozen):
        require_resumable("inventory")
    assert adapter_for("inventory", "retired") == "remote"


def test_the_database_refuses_every_write_to_a_retired_capabilitys_tables() -> None:
    product = make_product(on_hand=10)
    payment = make_payment()
    _retire("inventory")

    refusal = _refused_by_the_database(
        lambda: Product.objects.filter(sku=product.sku).update(on_hand=11)
    )
    assert "the monolith's inventory tables are read-only: inventory is retired" in refusal
    _refused_by_the_database(lambda: Product.objects.filter(sku=product.sku).delete())
    _refused_by_the_database(
        lambda: Product.objects.create(
            sku=random_sku(), name="x", price=Decimal("1.00"), created_at=now(), updated_at=now()
        )
    )
    with connection.cursor() as cursor:  # plain SQL, as a script or a shell would write
        _refused_by_the_database(lambda: cursor.execute("UPDATE inventory_product SET on_hand = 0"))
    assert Product.objects.get(sku=product.sku).on_hand == 10  # reads are fine

    # Another capability's tables are not frozen.
    assert Payment.objects.filter(id=payment.id).update(version=payment.version + 1) == 1


def test_every_table_of_each_capability_carries_the_retirement_trigger() -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT tgrelid::regclass::text FROM pg_trigger "
                "WHERE tgname = 'strangler_retired_guard'"
            )
            guarded = {row[0] for row in cursor.fetchall()}
        else:
            cursor.execute(
                "SELECT DISTINCT tbl_name FROM sqlite_master "
                "WHERE type = 'trigger' AND name LIKE 'strangler_retired_%'"
            )
            guarded = {row[0] for row in cursor.fetchall()}
    tables = {
        model._meta.db_table
        for label in CAPABILITY_APPS.values()
        for model in apps.get_app_config(label).get_models()
    }
    assert tables and tables <= guarded


def test_the_inbox_ignores_a_retired_capabilitys_events_and_parks_nothing() -> None:
    product = make_product(on_hand=10)
    _retire("inventory")
    direction_set(capability="payments", direction="reverse")
    newer = _product_event(sku=product.sku, version=product.version + 1, on_hand=99)

    assert apply_event(newer) == "ignored"
    garbled = {"event_id": str(uuid.uuid4()), "aggregate_type": "product", "payload": "?"}
    assert apply_event(garbled) == "ignored"  # not even read: nothing to park
    payment = from_service(payment_state(version=2, amount="30.00"), "payment", origin="payments")
    assert apply_events([newer, payment]) == ["ignored", "applied"]

    assert Product.objects.get(sku=product.sku).on_hand == 10
    assert not InboxEvent.objects.filter(event_id=newer["event_id"]).exists()
    assert Payment.objects.filter(id=payment["aggregate_id"]).exists()
    assert not DeadLetter.objects.exists()
