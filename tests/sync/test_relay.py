"""The outbox relay and the event worker: monolith writes reach the service's rows."""

from __future__ import annotations

import json
from functools import partial

import pytest

from tests.support.ports import free_port
from tests.support.waiting import wait_for
from tests.sync.rig import SyncRig

RELAY_ONCE = "from sync.monolith_worker import relay_outbox; print(relay_outbox(limit={limit}))"


@pytest.fixture
def rig(module_rig: SyncRig) -> SyncRig:
    """The module's shared rig, fresh for this test (empty inventory service and outbox)."""
    return module_rig.fresh("inventory")


def test_monolith_writes_reach_the_service_rows_through_relay_and_worker(rig: SyncRig) -> None:
    rig.shared_workers("worker-monolith", "worker-inventory")
    with rig.relay():
        product = rig.create_product(on_hand=8)
        other = rig.create_product(on_hand=5)
        rig.adjust(product["sku"], delta=4)
        reservation = rig.reserve([(product["sku"], 3), (other["sku"], 1)])
        rig.commit(reservation["id"])

        for sku in (product["sku"], other["sku"]):
            wait_for(partial(rig.product_synced, sku), message=f"{sku} in the service")
        wait_for(
            lambda: rig.reservation_synced(reservation["id"]),
            message="the reservation in the service",
        )
        (_, monolith_row), (_, service_row) = rig.product_on_both(product["sku"])
        assert service_row == monolith_row
        assert service_row["version"] == 4  # create, adjust, reserve, commit
        assert service_row["on_hand"] == 12 - 3

        # Two pool processes may apply one row's events out of order (the later one then counts
        # as stale), but every event is processed exactly once.
        wait_for(
            lambda: rig.sync_stats()["events_processed"] == rig.outbox_stats()["total"],
            message="every event processed",
        )
        status = rig.strangler_sync("status", "--capability", "inventory", "--json")
        picture = json.loads(status.stdout)["inventory"]
        assert picture["caught_up"] is True
        assert picture["outbox"]["total"] == 2 + 1 + 3 + 3  # creates, adjust, reserve, commit
        assert picture["sync"]["last_lag_s"] is not None


def test_a_refused_broker_marks_nothing_published_and_everything_goes_once_it_is_back(
    rig: SyncRig,
) -> None:
    skus = [rig.create_product()["sku"] for _ in range(3)]
    rig.adjust(skus[0], delta=-2)
    assert rig.outbox_stats()["pending"] == 4

    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    refused = rig.run("-c", RELAY_ONCE.format(limit=500), CELERY_BROKER_URL=nowhere)
    assert refused.returncode != 0
    assert "OperationalError" in refused.stderr
    assert rig.outbox_stats()["pending"] == 4

    rig.shared_workers("worker-inventory")
    # A small limit: the relay keeps going while batches come back full.
    relayed = rig.run("-c", RELAY_ONCE.format(limit=3))
    assert relayed.returncode == 0, relayed.stderr
    assert relayed.stdout.split()[-1] == "4"
    assert rig.outbox_stats()["pending"] == 0
    for sku in skus:
        wait_for(partial(rig.product_synced, sku), message=f"{sku} in the service")
    wait_for(lambda: rig.sync_stats()["events_processed"] == 4, message="4 events processed")
    # Two pool processes may apply skus[0]'s create after its adjustment: then it is stale.
    stats = rig.sync_stats()
    assert stats["events_applied"] + stats["events_skipped"] == 4
    assert stats["events_applied"] >= 3


def test_the_cli_kicks_the_relay(rig: SyncRig) -> None:
    sku = rig.create_product()["sku"]
    rig.shared_workers("worker-monolith", "worker-inventory")
    kicked = rig.strangler_sync("relay")
    assert kicked.returncode == 0, kicked.stderr
    wait_for(lambda: rig.product_synced(sku), message=f"{sku} in the service")
    assert rig.outbox_stats()["pending"] == 0
