"""The relay process (``python -m sync.relay``): several at once publish every event exactly once
(SKIP LOCKED), it wakes on the outbox's NOTIFY, and a broker that goes away leaves events
pending until it is back."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from functools import partial
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis

from sync.celery_app import queue_name
from sync.task_names import task_name
from tests.support.processes import REPO_ROOT
from tests.support.redis_server import OwnRedis
from tests.support.waiting import wait_for
from tests.sync.rig import SyncRig

pytestmark = pytest.mark.slow

#: Fifty relay batches of 20: enough for the three relays to overlap.
EVENTS = 1000

#: One relay pass in its own process, started together with the others by a file appearing.
CONCURRENT_DRAIN = """
import os, sys, time
from pathlib import Path
import django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "monolith.settings")
django.setup()
from sync.outbox_relay import drain
from sync.celery_app import make_celery
app = make_celery("relay")
go = Path(sys.argv[1])
while not go.exists():
    time.sleep(0.005)
print(drain(app, limit=20))
"""


@pytest.fixture
def rig(module_rig: SyncRig) -> SyncRig:
    """The module's shared rig, fresh for this test (empty inventory service and outbox)."""
    return module_rig.fresh("inventory")


@pytest.fixture
def seeded_rig(rig: SyncRig) -> SyncRig:
    """The module's rig with EVENTS pending events (the seed's products) and no inventory
    worker: what the relays publish stays in the queue."""
    rig.stop_shared_worker("worker-inventory")
    seeded = rig.run("monolith/manage.py", "seed_inventory", "--products", str(EVENTS))
    assert seeded.returncode == 0, seeded.stderr
    return rig


def _queued_event_ids(rig: SyncRig) -> list[list[str]]:
    """The event id of every envelope waiting in the inventory queue, one list per message
    (Celery protocol 2: a JSON envelope whose body is ``[args, kwargs, embed]`` as JSON text, or
    base64 of it where the message's ``body_encoding`` says so; sync.celery_app sends the text;
    the relay sends ``inventory.apply_events`` with a list of envelopes)."""
    client = redis.Redis.from_url(rig.env["CELERY_BROKER_URL"])
    try:
        queue = queue_name("inventory", rig.env["STRANGLER_QUEUE_PREFIX"])
        raw = client.lrange(queue, 0, -1)
        client.delete(queue)
    finally:
        client.close()
    messages = []
    for message in raw:
        decoded = json.loads(message)
        assert decoded["headers"]["task"] == task_name("inventory", "apply_events")
        body = decoded["body"]
        if decoded["properties"].get("body_encoding") == "base64":
            body = base64.b64decode(body)
        args, _kwargs, _embed = json.loads(body)
        messages.append([envelope["event_id"] for envelope in args[0]])
    return messages


def test_three_relays_at_once_publish_every_event_exactly_once(
    seeded_rig: SyncRig, tmp_path: Path
) -> None:
    rig = seeded_rig
    assert rig.outbox_stats()["pending"] == EVENTS
    go = tmp_path / "go"
    relays = [
        subprocess.Popen(
            [sys.executable, "-c", CONCURRENT_DRAIN, str(go)],
            env={**rig.env},
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    go.touch()
    published = []
    for relay in relays:
        out, err = relay.communicate(timeout=120)
        assert relay.returncode == 0, err
        published.append(int(out.split()[-1]))

    assert sum(published) == EVENTS, published
    assert sum(1 for n in published if n > 0) >= 2, published  # they really ran side by side
    messages = _queued_event_ids(rig)
    # Several events to a message: a relay batch of 20 is one message.
    assert all(len(batch) <= 20 for batch in messages)
    assert len(messages) < EVENTS
    ids = [event_id for batch in messages for event_id in batch]
    assert len(ids) == EVENTS
    assert len(set(ids)) == EVENTS  # no event published by two relays
    assert rig.outbox_stats()["pending"] == 0


def test_the_relay_wakes_on_the_outbox_notification(rig: SyncRig) -> None:
    # No fallback pass within the test: only a notification can wake the relay.
    rig.env["STRANGLER_RELAY_FALLBACK_S"] = "3600"
    rig.shared_workers("worker-inventory")
    with rig.relay() as relay:
        assert "waking on LISTEN/NOTIFY" in relay.log_path.read_text()
        skus = [rig.create_product()["sku"] for _ in range(3)]
        for sku in skus:
            wait_for(partial(rig.product_synced, sku), timeout=10, message=f"{sku} relayed")
    assert rig.outbox_stats()["pending"] == 0


def test_a_broker_that_goes_away_leaves_events_pending_until_it_is_back(
    rig: SyncRig, tmp_path: Path
) -> None:
    # A broker of this test's own (the owners' servers never talk to the broker): its relay and
    # worker use it, not the module's shared workers.
    with OwnRedis(tmp_path / "redis") as broker:
        rig.env["CELERY_BROKER_URL"] = broker.url
        rig.env["STRANGLER_RELAY_FALLBACK_S"] = "3600"
        with rig.worker("worker-inventory"), rig.relay() as relay:
            first = rig.create_product()["sku"]
            wait_for(partial(rig.product_synced, first), message="the first product relayed")

            broker.kill()
            later = [rig.create_product()["sku"] for _ in range(2)]
            wait_for(
                lambda: "the broker refused the batch" in relay.log_path.read_text(),
                timeout=30,
                message="the relay to hit the missing broker",
            )
            assert rig.outbox_stats()["pending"] == 2  # nothing marked published

            broker.start()
            for sku in later:
                wait_for(partial(rig.product_synced, sku), timeout=60, message=f"{sku} relayed")
        assert rig.outbox_stats()["pending"] == 0
        assert rig.sync_stats()["events_processed"] == 3


_SLEEPERS = "SELECT cardinality(pids) FROM outbox_relay_sleepers WHERE id = 1"
_COPY_EVENT = """
INSERT INTO outbox_outboxevent
    (event_id, aggregate_type, aggregate_id, event_type, version, payload, origin, occurred_at)
SELECT gen_random_uuid(), aggregate_type, aggregate_id, event_type, version, payload, origin, now()
FROM outbox_outboxevent ORDER BY seq LIMIT 1
"""
_SLEEP_WAITING = """
SELECT count(*) FROM pg_stat_activity
WHERE datname = current_database() AND wait_event_type = 'Lock'
    AND query LIKE '%outbox_relay_sleepers%FOR UPDATE%'
"""


def _sql(conn: psycopg.Connection[Any], query: str) -> Any:
    row = conn.execute(query).fetchone()
    assert row is not None
    return row[0]


def test_a_write_in_flight_while_the_relay_goes_to_sleep_is_relayed_without_a_notification(
    rig: SyncRig,
) -> None:
    # Nothing but the relay's own pass after registering as a sleeper can find the write: no
    # fallback pass, and the write saw no sleeper, so it sends no notification.
    rig.env["STRANGLER_RELAY_FALLBACK_S"] = "3600"
    rig.env["STRANGLER_RELAY_AWAKE_S"] = "0.3"
    url = rig.env["DATABASE_URL"]
    rig.shared_workers("worker-inventory")
    with (
        rig.relay(),
        psycopg.connect(url, autocommit=True) as watcher,
        psycopg.connect(url) as writer,
    ):
        first = rig.create_product()["sku"]
        wait_for(partial(rig.product_synced, first), message="the first product relayed")
        wait_for(lambda: _sql(watcher, _SLEEPERS) == 1, message="the relay asleep")

        def write_seen_by_no_sleeper() -> bool:
            rig.create_product()  # wakes the relay: it unregisters and polls for a while
            wait_for(lambda: _sql(watcher, _SLEEPERS) == 0, message="the relay awake")
            writer.execute(_COPY_EVENT)  # the trigger read the registrations here
            if _sql(writer, _SLEEPERS) == 0:
                return True  # ... and saw none: no notification at commit
            writer.rollback()  # the relay went back to sleep first: once more
            return False

        wait_for(write_seen_by_no_sleeper, timeout=60, message="a write that saw no sleeper")
        # The relay, going back to sleep, waits for this uncommitted write ...
        wait_for(lambda: _sql(watcher, _SLEEP_WAITING) == 1, message="the relay waiting for it")
        writer.commit()
        # ... and its pass right after registering publishes it.
        wait_for(lambda: rig.outbox_stats()["pending"] == 0, message="the write relayed")
        wait_for(lambda: _sql(watcher, _SLEEPERS) == 1, message="the relay asleep again")
