"""The payments and orders subscribers as real processes: a payment and an order written through
the monolith's API reach the payments and orders services through the relay, Redis and each
capability's own worker; a redelivered envelope changes nothing; a poison event is parked in the
owner's database, listed and replayed after the fix by `strangler sync dead-letters -c`; a poison
event in a batch message (what the relay sends) is parked and the rest of the batch applied.

The module shares one rig and its workers; each test starts from empty services and an empty
outbox, as on a rig of its own."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

import psycopg
import pytest
from celery import Celery

from contracts.events import Capability
from sync.task_names import EVENT_BATCH_TASKS, EVENT_TASKS
from tests.support.orders_stack import ORDERS, checkout_body, order_path
from tests.support.payments_api import PAYMENTS, payment_body, payment_path
from tests.support.waiting import wait_for
from tests.sync.customers import Customer
from tests.sync.envelopes import take_pending_envelopes
from tests.sync.rig import SyncRig, running_rig
from tests.sync.workers import LogMark

pytestmark = pytest.mark.slow

OWNERS = ("inventory", "payments", "orders")

#: Every outbox row of the monolith as its envelope, published or not (nothing is marked).
_ALL_ENVELOPES = """
import json, os
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "monolith.settings")
import django
django.setup()
from monolith.outbox.models import OutboxEvent
from monolith.outbox.relay import envelope_of
rows = OutboxEvent.objects.order_by("seq")
print(json.dumps([envelope_of(row).model_dump(mode="json") for row in rows]))
"""


@pytest.fixture(scope="module")
def shared_rig(
    tmp_path_factory: pytest.TempPathFactory, module_redis_env: dict[str, str]
) -> Iterator[SyncRig]:
    """The monolith and the three services on fresh PostgreSQL databases; Redis as the broker."""
    with running_rig(
        tmp_path_factory.mktemp("subscribers"), module_redis_env, services=OWNERS
    ) as rig:
        yield rig


@pytest.fixture
def owners_rig(shared_rig: SyncRig) -> SyncRig:
    """The module's rig with empty services and an empty outbox."""
    shared_rig.empty_service(*OWNERS)
    shared_rig.empty_outbox()
    return shared_rig


@pytest.fixture
def owners_sender(owners_rig: SyncRig, monkeypatch: pytest.MonkeyPatch) -> Celery:
    return owners_rig.sender(monkeypatch)


def _outbox_total(rig: SyncRig, capability: str) -> int:
    url = f"{rig.monolith_url}/internal/outbox/stats?capability={capability}"
    total: int = rig.http.get(url).json()["total"]
    return total


def _all_envelopes(rig: SyncRig) -> list[dict[str, Any]]:
    done = rig.run("-c", _ALL_ENVELOPES)
    assert done.returncode == 0, done.stderr
    envelopes: list[dict[str, Any]] = json.loads(done.stdout.splitlines()[-1])
    return envelopes


def _deliver(sender: Celery, *envelopes: dict[str, Any]) -> None:
    for envelope in envelopes:
        sender.send_task(EVENT_TASKS[envelope["aggregate_type"]], args=[envelope])


def _every_event_processed(rig: SyncRig) -> bool:
    return all(
        rig.sync_stats(owner)["events_processed"] == _outbox_total(rig, owner) for owner in OWNERS
    )


def test_payments_and_orders_reach_their_services_and_redelivery_changes_nothing(
    owners_rig: SyncRig, owners_sender: Celery
) -> None:
    rig = owners_rig
    customer = Customer(rig)
    sku = rig.create_product(on_hand=10, price="4.50")["sku"]
    # One thread per worker: each queue is consumed in order, so a marker sent last comes last.
    rig.shared_workers(*(f"worker-{owner}" for owner in OWNERS), concurrency=1)
    with rig.relay():
        payment = customer.post(PAYMENTS, payment_body(amount="20.00"))
        customer.post(payment_path(payment["id"], "capture"))
        order = customer.post(ORDERS, checkout_body([(sku, 2)]))
        assert order["status"] == "confirmed"

        wait_for(
            lambda: customer.synced("payments", payment_path(payment["id"])),
            timeout=60,
            message="the captured payment in the payments service",
        )
        wait_for(
            lambda: customer.synced("orders", order_path(order["id"])),
            timeout=60,
            message="the order in the orders service",
        )
        wait_for(
            lambda: customer.synced("payments", payment_path(order["payment_id"])),
            message="the order's payment in the payments service",
        )
        wait_for(lambda: _every_event_processed(rig), timeout=60, message="every event processed")
        before = {owner: rig.sync_stats(owner) for owner in OWNERS}
        assert before["payments"]["events_processed"] == 3  # authorise, capture, checkout's
        assert before["orders"]["events_processed"] == 1
        assert all(stats["dead_letters"] == 0 for stats in before.values())

        # The broker hands every envelope out again (as after a worker died before its ack),
        # then a fresh write of each capability as a marker that comes after them.
        _deliver(owners_sender, *_all_envelopes(rig))
        marker_payment = customer.post(PAYMENTS, payment_body(amount="5.00"))
        marker_order = customer.post(ORDERS, checkout_body([(sku, 1)]))
        for capability, path in (
            ("payments", payment_path(marker_payment["id"])),
            ("orders", order_path(marker_order["id"])),
            ("inventory", f"/api/inventory/products/{sku}/"),
        ):
            wait_for(
                partial(customer.synced, capability, path),
                timeout=60,
                message=f"the marker in the {capability} service",
            )
        wait_for(lambda: _every_event_processed(rig), timeout=60, message="the markers processed")

    after = {owner: rig.sync_stats(owner) for owner in OWNERS}
    # Each redelivered event was recognised by its id: only the markers' events were added.
    assert after["payments"]["events_processed"] == 3 + 2  # the marker payment, the checkout's
    assert after["orders"]["events_processed"] == 1 + 1
    assert after["payments"]["events_applied"] == _outbox_total(rig, "payments")
    assert after["orders"]["events_applied"] == _outbox_total(rig, "orders")
    assert customer.synced("payments", payment_path(payment["id"]))
    assert customer.synced("orders", order_path(order["id"]))

    status = rig.strangler_sync("status", "--json")
    assert status.returncode == 0, status.stderr
    pictures = json.loads(status.stdout)
    assert sorted(pictures) == sorted(OWNERS)
    assert all(picture["caught_up"] for picture in pictures.values()), pictures
    assert pictures["orders"]["sync"]["last_lag_s"] is not None
    table = rig.strangler_sync("status")
    assert table.returncode == 0, table.stderr
    for owner in OWNERS:
        assert f"Outbox -> {owner} service" in table.stdout


@contextmanager
def _service_refuses(rig: SyncRig, capability: str, check: str) -> Iterator[None]:
    """A bug on the service's side, played by a CHECK constraint the monolith does not have;
    leaving the block is the fix."""
    table = {"payments": "payments", "orders": "orders"}[capability]
    url = rig.env[f"{capability.upper()}_DATABASE_URL"].replace("+psycopg", "")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"ALTER TABLE {table} ADD CONSTRAINT test_bug CHECK ({check})")
        try:
            yield
        finally:
            conn.execute(f"ALTER TABLE {table} DROP CONSTRAINT test_bug")


@pytest.mark.parametrize("capability", ["payments", "orders"])
def test_a_poison_event_is_parked_listed_and_replayed_after_the_fix(
    owners_rig: SyncRig, owners_sender: Celery, capability: str
) -> None:
    rig = owners_rig
    customer = Customer(rig)
    sku = rig.create_product(on_hand=10, price="7.00")["sku"]
    if capability == "payments":
        written = customer.post(PAYMENTS, payment_body(amount="77.00"))
        path, check, aggregate = payment_path(written["id"]), "amount <> 77", "payment"
    else:
        written = customer.post(ORDERS, checkout_body([(sku, 1)]))
        path, check, aggregate = order_path(written["id"]), "total <> 7", "order"
    events = [e for e in take_pending_envelopes(rig) if e["aggregate_id"] == written["id"]]
    assert [e["aggregate_type"] for e in events] == [aggregate]
    stats = partial(rig.sync_stats, capability)

    [worker] = rig.shared_workers(f"worker-{capability}", concurrency=1)
    logged = LogMark(worker)
    with _service_refuses(rig, capability, check):
        _deliver(owners_sender, events[0], events[0])  # the poison, and its redelivery
        wait_for(
            lambda: logged.text().count("parked as dead letter") == 2,
            message="both deliveries parked",
        )
        assert stats()["dead_letters"] == 1
        listed = rig.strangler_sync("dead-letters", "list", "--capability", capability)
        assert listed.returncode == 0, listed.stderr
        assert f"Dead letters: 1 ({capability})" in listed.stdout
        assert events[0]["event_id"] in listed.stdout and "test_bug" in listed.stdout
        again = rig.strangler_sync("dead-letters", "replay", "--all", "-c", capability)
        assert again.returncode == 1 and "0 replayed, 1 failed" in again.stdout
    assert "Retry in" not in logged.text()
    assert customer.get(rig.service_url(capability), path)[0] == 404

    replayed = rig.strangler_sync("dead-letters", "replay", "--all", "-c", capability)
    assert replayed.returncode == 0, replayed.stderr
    assert f"({events[0]['event_id']}): replayed, applied" in replayed.stdout
    assert customer.synced(capability, path)
    assert stats()["dead_letters"] == 0

    # Redelivered after the replay: a duplicate; a later write still goes through.
    if capability == "payments":
        customer.post(payment_path(written["id"], "void"))
    else:
        customer.post(order_path(written["id"], "cancel"))
    (later,) = [e for e in take_pending_envelopes(rig) if e["aggregate_id"] == written["id"]]
    _deliver(owners_sender, events[0], later)
    wait_for(lambda: customer.synced(capability, path), message="the later write applied")
    final = stats()
    assert (final["events_processed"], final["events_applied"], final["dead_letters"]) == (2, 2, 0)
    # The other owners' dead letters are their own: inventory parked nothing.
    inventory = rig.strangler_sync("dead-letters", "list")
    assert inventory.returncode == 0 and "Dead letters: 0 (inventory)" in inventory.stdout


@pytest.mark.parametrize("capability", ["payments", "orders"])
def test_a_poison_event_in_a_batch_is_parked_and_the_rest_of_the_batch_applied(
    owners_rig: SyncRig, owners_sender: Celery, capability: Capability
) -> None:
    rig = owners_rig
    customer = Customer(rig)
    sku = rig.create_product(on_hand=10, price="7.00")["sku"]
    if capability == "payments":
        writes = [
            customer.post(PAYMENTS, payment_body(amount=a)) for a in ("10.00", "77.00", "12.00")
        ]
        paths, check = [payment_path(w["id"]) for w in writes], "amount <> 77"
    else:
        writes = [customer.post(ORDERS, checkout_body([(sku, n)])) for n in (1, 2, 3)]
        paths, check = [order_path(w["id"]) for w in writes], "total <> 14"
    ids = [w["id"] for w in writes]
    events = [e for e in take_pending_envelopes(rig) if e["aggregate_id"] in ids]
    assert [e["aggregate_id"] for e in events] == ids
    stats = partial(rig.sync_stats, capability)

    [worker] = rig.shared_workers(f"worker-{capability}", concurrency=1)
    logged = LogMark(worker)
    with _service_refuses(rig, capability, check):
        owners_sender.send_task(EVENT_BATCH_TASKS[capability], args=[events])
        wait_for(lambda: stats()["dead_letters"] == 1, message="the poison parked")
        wait_for(lambda: stats()["events_processed"] == 2, message="the rest of the batch applied")
    log = logged.text()

    assert "applying them one by one" in log
    assert f"poison event {events[1]['event_id']} parked as dead letter" in log
    assert "Retry in" not in log
    assert customer.synced(capability, paths[0]) and customer.synced(capability, paths[2])
    assert customer.get(rig.service_url(capability), paths[1])[0] == 404
    assert stats()["events_applied"] == 2
