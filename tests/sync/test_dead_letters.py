"""Poison events are parked as dead letters in the service's database, the rest keep flowing, and
a replay after the fix applies them with event-id dedup and compare-and-set still in force."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

import psycopg
import pytest
from celery import Celery

from sync.task_names import task_name
from tests.support.waiting import wait_for
from tests.sync.envelopes import events_of, take_pending_envelopes
from tests.sync.rig import SyncRig
from tests.sync.workers import LogMark


@pytest.fixture
def rig(module_rig: SyncRig) -> SyncRig:
    """The module's shared rig, fresh for this test (empty inventory service and outbox)."""
    return module_rig.fresh("inventory")


def _deliver(sender: Celery, *envelopes: dict[str, Any]) -> None:
    for envelope in envelopes:
        sender.send_task(task_name("inventory", "apply_event"), args=[envelope])


def _dead_letters(rig: SyncRig) -> int:
    count: int = rig.sync_stats()["dead_letters"]
    return count


@contextmanager
def _service_refuses_on_hand(rig: SyncRig, value: int) -> Iterator[None]:
    """A bug on the service's side, played by a CHECK constraint the monolith does not have:
    applying a row with ``on_hand == value`` fails with an IntegrityError (not transient). Leaving
    the block is the fix."""
    url = rig.env["INVENTORY_DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            f"ALTER TABLE products ADD CONSTRAINT test_bug CHECK (on_hand <> {int(value)})"
        )
        try:
            yield
        finally:
            conn.execute("ALTER TABLE products DROP CONSTRAINT test_bug")


def test_a_poison_event_is_parked_and_the_rest_keep_flowing(rig: SyncRig, sender: Celery) -> None:
    sku = rig.create_product()["sku"]
    (good,) = take_pending_envelopes(rig)
    poison = {**good, "event_id": str(uuid.uuid4()), "payload": {"sku": sku}}

    logged = LogMark(*rig.shared_workers("worker-inventory", concurrency=1))
    # The poison twice (a redelivery): still one dead letter, two attempts.
    _deliver(sender, poison, good, poison)
    wait_for(lambda: rig.product_synced(sku), message="the good event after the poison")
    wait_for(
        lambda: logged.text().count("parked as dead letter") == 2,
        message="both deliveries of the poison parked",
    )
    log = logged.text()

    assert f"poison event {poison['event_id']} parked as dead letter" in log
    assert "Retry in" not in log
    stats = rig.sync_stats()
    assert stats["events_processed"] == 1
    assert stats["dead_letters"] == 1

    listed = rig.strangler_sync("dead-letters", "list")
    assert listed.returncode == 0, listed.stderr
    assert "Dead letters: 1" in listed.stdout
    assert poison["event_id"] in listed.stdout
    assert "SyncInputError" in listed.stdout
    as_json = json.loads(rig.strangler_sync("dead-letters", "list", "--json").stdout)
    assert as_json["owner"] == "inventory" and as_json["count"] == 1
    (letter,) = as_json["dead_letters"]
    assert letter["event_id"] == poison["event_id"] and "SyncInputError" in letter["error"]
    assert letter["attempts"] == 2

    # Still poison: the replay fails again, says so, keeps the letter and exits 1.
    letter_id = listed.stdout.split(poison["event_id"])[0].split("│")[-2].strip()
    again = rig.strangler_sync("dead-letters", "replay", letter_id)
    assert again.returncode == 1
    assert "failed again" in again.stdout and "0 replayed, 1 failed" in again.stdout
    assert _dead_letters(rig) == 1


def test_a_poison_event_in_a_batch_is_parked_and_the_rest_of_the_batch_applied(
    rig: SyncRig, sender: Celery
) -> None:
    skus = [rig.create_product()["sku"] for _ in range(3)]
    envelopes = take_pending_envelopes(rig)
    poison = {**envelopes[1], "event_id": str(uuid.uuid4()), "payload": {"sku": skus[1]}}

    logged = LogMark(*rig.shared_workers("worker-inventory", concurrency=1))
    sender.send_task(
        task_name("inventory", "apply_events"), args=[[envelopes[0], poison, *envelopes[1:]]]
    )
    for sku in skus:
        wait_for(partial(rig.product_synced, sku), message=f"{sku} applied beside the poison")
    wait_for(lambda: _dead_letters(rig) == 1, message="the poison parked")
    log = logged.text()

    assert "applying them one by one" in log
    assert f"poison event {poison['event_id']} parked as dead letter" in log
    stats = rig.sync_stats()
    assert stats["events_processed"] == 3
    assert stats["events_applied"] == 3
    assert stats["dead_letters"] == 1


def test_a_message_that_is_not_a_batch_is_parked(rig: SyncRig, sender: Celery) -> None:
    logged = LogMark(*rig.shared_workers("worker-inventory", concurrency=1))
    sender.send_task(task_name("inventory", "apply_events"), args=[{"not": "a list"}])
    wait_for(lambda: _dead_letters(rig) == 1, message="the garbled message parked")
    log = logged.text()
    assert "Retry in" not in log
    assert rig.sync_stats()["events_processed"] == 0


def test_dead_letters_replay_after_the_fix_with_dedup_and_cas(rig: SyncRig, sender: Celery) -> None:
    older = rig.create_product(on_hand=5)["sku"]
    rig.adjust(older, delta=100)  # v2: on_hand 105, refused by the service's "bug"
    rig.adjust(older, delta=-1)  # v3: on_hand 104
    only = rig.create_product(on_hand=105)["sku"]  # v1 refused: nothing newer will come
    envelopes = take_pending_envelopes(rig)
    old_events, only_events = events_of(envelopes, older), events_of(envelopes, only)

    rig.shared_workers("worker-inventory", concurrency=1)
    with _service_refuses_on_hand(rig, 105):
        _deliver(sender, old_events[1], old_events[2], old_events[3], only_events[1])
        wait_for(lambda: _dead_letters(rig) == 2, message="two events parked")
        wait_for(lambda: rig.sync_stats()["events_processed"] == 2, message="v1 and v3")
        assert rig.product_synced(older)  # v3 went through: the rest kept flowing
        assert rig.get(rig.inventory_url, f"/api/inventory/products/{only}/")[0] == 404

    replayed = rig.strangler_sync("dead-letters", "replay", "--all")
    assert replayed.returncode == 0, replayed.stderr
    assert "2 replayed, 0 failed" in replayed.stdout
    # The older product's v2 arrives after v3: compare-and-set keeps v3 (stale).
    assert f"({old_events[2]['event_id']}): replayed, stale" in replayed.stdout
    assert f"({only_events[1]['event_id']}): replayed, applied" in replayed.stdout
    assert rig.product_synced(older) and rig.product_synced(only)
    assert _dead_letters(rig) == 0

    # Redelivered by the broker after the replay: recognised by event id, changes nothing.
    marker = rig.create_product()["sku"]
    (marker_event,) = take_pending_envelopes(rig)
    _deliver(sender, only_events[1], old_events[2], marker_event)
    wait_for(lambda: rig.product_synced(marker), message="the marker after the repeats")

    stats = rig.sync_stats()
    assert stats["events_processed"] == 5  # older v1-v3, only v1, the marker: once each
    assert stats["dead_letters"] == 0
    nothing = rig.strangler_sync("dead-letters", "replay", "--all")
    assert nothing.returncode == 0 and "0 replayed, 0 failed" in nothing.stdout


def test_dead_letter_cli_refusals(rig: SyncRig) -> None:
    neither = rig.strangler_sync("dead-letters", "replay")
    assert neither.returncode == 1
    assert neither.stderr.strip() == "strangler sync: give dead letter ids or --all (not both)"
    unknown = rig.strangler_sync("dead-letters", "replay", "999")
    assert unknown.returncode == 1
    assert unknown.stderr.strip() == "strangler sync: no dead letter with id [999]"
    refused = rig.strangler_sync("dead-letters", "replay", "999", STRANGLER_SYNC_TOKEN="not-it")
    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        f"strangler sync: the service at {rig.inventory_url}/internal/sync/dead-letters/replay "
        "answered 401: it refused the sync token: STRANGLER_SYNC_TOKEN differs from the one it "
        "runs with"
    )
