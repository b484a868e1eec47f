"""What the event worker does with redelivery, reordering and a database that is away (poison:
test_dead_letters.py)."""

from __future__ import annotations

from functools import partial
from typing import Any

import psycopg
import pytest
from celery import Celery
from psycopg import sql

from sync.task_names import task_name
from tests.support.postgres import ADMIN_URL
from tests.support.waiting import wait_for
from tests.sync.envelopes import events_of, take_pending_envelopes
from tests.sync.rig import SyncRig


@pytest.fixture
def rig(module_rig: SyncRig) -> SyncRig:
    """The module's shared rig, fresh for this test (empty inventory service and outbox)."""
    return module_rig.fresh("inventory")


def _deliver(sender: Celery, *envelopes: dict[str, Any]) -> None:
    for envelope in envelopes:
        sender.send_task(task_name("inventory", "apply_event"), args=[envelope])


def test_duplicate_and_out_of_order_delivery_leave_the_service_row_equal(
    rig: SyncRig, sender: Celery
) -> None:
    sku = rig.create_product(on_hand=5)["sku"]
    rig.adjust(sku, delta=3)
    rig.adjust(sku, delta=-1)
    marker = rig.create_product()["sku"]
    envelopes = take_pending_envelopes(rig)
    versions = events_of(envelopes, sku)
    assert sorted(versions) == [1, 2, 3]

    # One pool process: the queue is consumed in order, so the marker comes last.
    rig.shared_workers("worker-inventory", concurrency=1)
    _deliver(sender, versions[1], versions[3], versions[2], versions[3], versions[2])
    _deliver(sender, versions[1], events_of(envelopes, marker)[1])
    wait_for(lambda: rig.product_synced(marker), message="the marker event to be applied")

    monolith, service = rig.product_on_both(sku)
    assert service == monolith
    assert service[1]["version"] == 3
    stats = rig.sync_stats()
    assert stats["events_applied"] == 3  # v1, v3 and the marker
    assert stats["events_skipped"] == 1  # v2 came after v3: stale
    assert stats["events_processed"] == 4  # the three repeats were recognised by event id


def test_a_batch_message_with_repeats_and_reordering_applies_each_event_once(
    rig: SyncRig, sender: Celery
) -> None:
    sku = rig.create_product(on_hand=5)["sku"]
    rig.adjust(sku, delta=3)
    rig.adjust(sku, delta=-1)
    other = rig.create_product(on_hand=7)["sku"]
    envelopes = take_pending_envelopes(rig)
    versions, others = events_of(envelopes, sku), events_of(envelopes, other)

    rig.shared_workers("worker-inventory", concurrency=1)
    # One message: v3 before v2, a repeat of v2 in the same batch; then the batch again (a
    # redelivery) in a second message.
    batch = [versions[1], versions[3], versions[2], others[1], versions[2]]
    sender.send_task(task_name("inventory", "apply_events"), args=[batch])
    sender.send_task(task_name("inventory", "apply_events"), args=[batch])
    marker = rig.create_product()["sku"]
    (marker_event,) = take_pending_envelopes(rig)
    sender.send_task(task_name("inventory", "apply_events"), args=[[marker_event]])
    wait_for(lambda: rig.product_synced(marker), message="the marker batch to be applied")

    for product in (sku, other):
        monolith, service = rig.product_on_both(product)
        assert service == monolith
    assert rig.product_on_both(sku)[1][1]["version"] == 3
    stats = rig.sync_stats()
    # Applied in aggregate order within a batch: v1, v2, v3 of sku, v1 of the other, the marker.
    assert stats["events_applied"] == 5
    assert stats["events_processed"] == 5  # every repeat recognised by event id


def _allow_connections(database_url: str, allowed: bool) -> None:
    name = database_url.rsplit("/", 1)[1]
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(
            sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS {}").format(
                sql.Identifier(name), sql.Literal(allowed)
            )
        )


def test_a_database_that_refuses_connections_is_retried_until_it_is_back(
    rig: SyncRig, sender: Celery
) -> None:
    sku = rig.create_product()["sku"]
    (event,) = take_pending_envelopes(rig)
    database = rig.env["INVENTORY_DATABASE_URL"]

    # A worker that starts while the database refuses (a shared one holds open connections).
    rig.stop_shared_worker("worker-inventory", concurrency=1)
    _allow_connections(database, False)
    try:
        with rig.worker("worker-inventory", concurrency=1) as worker:
            _deliver(sender, event)
            wait_for(
                lambda: "retry: Retry in" in worker.log_path.read_text(),
                timeout=30,
                message="the worker to schedule a retry",
            )
            assert "OperationalError" in worker.log_path.read_text()
            _allow_connections(database, True)
            wait_for(lambda: rig.product_synced(sku), timeout=90, message="the retried event")
    finally:
        _allow_connections(database, True)
    stats = rig.sync_stats()
    assert stats["events_applied"] == 1
    assert stats["dead_letters"] == 0  # transient: retried, never parked


def test_a_batch_that_meets_a_database_refusing_connections_is_retried_whole(
    rig: SyncRig, sender: Celery
) -> None:
    skus = [rig.create_product()["sku"] for _ in range(3)]
    envelopes = take_pending_envelopes(rig)
    database = rig.env["INVENTORY_DATABASE_URL"]

    rig.stop_shared_worker("worker-inventory", concurrency=1)
    _allow_connections(database, False)
    try:
        with rig.worker("worker-inventory", concurrency=1) as worker:
            sender.send_task(task_name("inventory", "apply_events"), args=[envelopes])
            wait_for(
                lambda: "retry: Retry in" in worker.log_path.read_text(),
                timeout=30,
                message="the worker to schedule a retry of the batch",
            )
            _allow_connections(database, True)
            for sku in skus:
                wait_for(partial(rig.product_synced, sku), timeout=90, message=f"{sku} retried")
            log = worker.log_path.read_text()
    finally:
        _allow_connections(database, True)
    assert "applying them one by one" not in log  # transient: the batch is retried, not split
    stats = rig.sync_stats()
    assert stats["events_applied"] == 3
    assert stats["dead_letters"] == 0
