"""The relay process (``python -m sync.relay``): several at once publish every event exactly once
(SKIP LOCKED), it wakes on the outbox's NOTIFY, and a broker that goes away leaves events
pending until it is back."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest
import redis

from sync.celery_app import queue_name
from sync.task_names import APPLY_EVENTS
from tests.support.processes import REPO_ROOT
from tests.support.redis_server import OwnRedis
from tests.support.waiting import wait_for
from tests.sync.rig import SyncRig, running_rig

EVENTS = 3000

#: One relay pass in its own process, started together with the others by a file appearing.
CONCURRENT_DRAIN = """
import sys, time
from pathlib import Path
from sync.relay import drain
from sync.celery_app import make_celery
app = make_celery("relay")
go = Path(sys.argv[1])
while not go.exists():
    time.sleep(0.005)
print(drain(app, limit=20))
"""


@pytest.fixture
def seeded_rig(tmp_path: Path, redis_env: dict[str, str]) -> Iterator[SyncRig]:
    with running_rig(tmp_path, redis_env, seed_products=EVENTS) as rig:
        yield rig


def _queued_event_ids(rig: SyncRig) -> list[list[str]]:
    """The event id of every envelope waiting in the inventory queue, one list per message
    (Celery protocol 2: a JSON envelope with a base64 body ``[args, kwargs, embed]``; the relay
    sends ``APPLY_EVENTS`` with a list of envelopes)."""
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
        assert decoded["headers"]["task"] == APPLY_EVENTS
        args, _kwargs, _embed = json.loads(base64.b64decode(decoded["body"]))
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
    with rig.worker("worker-inventory"), rig.relay() as relay:
        assert "waking on LISTEN/NOTIFY" in relay.log_path.read_text()
        skus = [rig.create_product()["sku"] for _ in range(3)]
        for sku in skus:
            wait_for(partial(rig.product_synced, sku), timeout=10, message=f"{sku} relayed")
    assert rig.outbox_stats()["pending"] == 0


def test_a_broker_that_goes_away_leaves_events_pending_until_it_is_back(
    tmp_path: Path, redis_env: dict[str, str]
) -> None:
    with (
        OwnRedis(tmp_path / "redis") as broker,
        running_rig(tmp_path, {**redis_env, "CELERY_BROKER_URL": broker.url}) as rig,
    ):
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
