"""Sync under faults: 10,000 changes written through the monolith while the relay and the event
workers are killed with SIGKILL at random points 20 times and Redis is killed and restarted once;
after convergence nothing is missing, nothing differs (row by row, and by reconciliation's range
checksums), nothing took effect twice, and the newest event of every product was applied (see
the last assertions for what the broker may lose).

Redis here is a server of the test's own (append-only file synced at every write, killed with
SIGKILL): the shared one on 6379 is never touched. The visibility timeout is lowered to 35 s
(just above the 30 s retry cap, the least make_celery accepts, with a margin) so the messages a
killed worker held come back within the test.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import psycopg
import pytest

from sync.celery_app import MAX_RETRY_COUNTDOWN_S
from sync.event_batches import ENVELOPES_PER_MESSAGE
from tests.support.processes import REPO_ROOT, ServerProcess
from tests.support.redis_server import OwnRedis
from tests.support.waiting import wait_for
from tests.sync.rig import SyncRig, running_rig
from tests.sync.workers import relay_process, worker_process

CHANGES = 10_000
PRODUCTS_CREATED = 400
KILLS = 20
WRITERS = 8
VISIBILITY_TIMEOUT_S = MAX_RETRY_COUNTDOWN_S + 5

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


@pytest.fixture
def chaos_rig(
    tmp_path: Path, queue_prefix: str, var_dir: Path
) -> Iterator[tuple[SyncRig, OwnRedis]]:
    with OwnRedis(tmp_path / "redis") as broker:
        env = {
            "CELERY_BROKER_URL": broker.url,
            "STRANGLER_BROKER_VISIBILITY_TIMEOUT_S": str(VISIBILITY_TIMEOUT_S),
            "STRANGLER_QUEUE_PREFIX": queue_prefix,
            "STRANGLER_VAR_DIR": str(var_dir),
            "PYTHONPATH": str(REPO_ROOT),
        }
        with running_rig(tmp_path, env) as rig:
            yield rig, broker


class Fleet:
    """The relay and two event workers, each replaced by a fresh process when killed."""

    def __init__(self, rig: SyncRig) -> None:
        self._makers: dict[str, Callable[[], ServerProcess]] = {
            "relay": lambda: relay_process(env=rig.env, log_dir=rig.log_dir),
            "worker-a": lambda: worker_process(
                "worker-inventory", env=rig.env, log_dir=rig.log_dir, concurrency=4
            ),
            "worker-b": lambda: worker_process(
                "worker-inventory", env=rig.env, log_dir=rig.log_dir, concurrency=4
            ),
        }
        self.running = {name: make().start() for name, make in self._makers.items()}
        self.killed: list[str] = []

    def kill_and_restart(self, name: str) -> None:
        victim = self.running[name]
        victim.kill()  # SIGKILL to the process group: the worker's pool dies with it
        assert victim.proc is not None
        victim.proc.wait(timeout=10)
        self.killed.append(name)
        self.running[name] = self._makers[name]().start()

    def stop(self) -> None:
        for process in self.running.values():
            process.stop()


#: The writer: the monolith's own write path (``monolith.inventory.services``: the row and its
#: outbox event in one transaction), in a process of its own with WRITERS threads. Not its HTTP
#: API: on this shared 2-core machine gunicorn manages ~40 writes/s under load, and 10,000 of them
#: would not fit the 4-minute budget; the outbox write is the same either way.
WRITER = """
import os, random, sys
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from decimal import Decimal
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "monolith.settings")
import django
django.setup()
from django.db import connection, transaction
from django.db.backends.signals import connection_created
from monolith.inventory.services import product_adjust_stock, product_create

def no_fsync_wait(sender, connection, **kwargs):
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit = off")

connection_created.connect(no_fsync_wait)

seed, products, changes, writers = map(int, sys.argv[1:5])
rng = random.Random(seed)
skus = [f"FAULT-{seed}-{i:05d}" for i in range(products)]
adjustments = [(rng.choice(skus), rng.choice([-2, -1, 1, 2, 3])) for _ in range(changes - products)]

def create(chunk):
    try:
        for sku in chunk:
            product_create(sku=sku, name="Fault mug", price=Decimal("9.90"), on_hand=1000)
    finally:
        connection.close()

def adjust(chunk):
    # Ten changes per transaction (ten outbox events, one commit): the commits, not the
    # changes, are what this machine's disk and CPU pay for.
    try:
        for start in range(0, len(chunk), 10):
            with transaction.atomic():
                # In sku order, so concurrent writers lock rows in one order (no deadlock).
                for sku, delta in sorted(chunk[start:start + 10]):
                    product_adjust_stock(sku=sku, delta=delta, reason="fault test")
    finally:
        connection.close()

with ThreadPoolExecutor(writers) as pool:
    list(pool.map(create, [skus[i::writers] for i in range(writers)]))
    list(pool.map(adjust, [adjustments[i::writers] for i in range(writers)]))
print("wrote", changes)
"""


def _write_changes(rig: SyncRig, seed: int) -> None:
    args = (str(seed), str(PRODUCTS_CREATED), str(CHANGES), str(WRITERS))
    done = rig.run("-c", WRITER, *args, DJANGO_LOG_LEVEL="WARNING")
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split()[-1] == str(CHANGES)


def _written_at_least(rig: SyncRig, point: int, writer: Future[None]) -> bool:
    return writer.done() or int(rig.outbox_stats()["total"]) >= point


def _rows(url: str, query: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        return conn.execute(query).fetchall()


PRODUCT_COLUMNS = "sku, name, price, on_hand, reserved, version, created_at, updated_at"


def _differences(rig: SyncRig) -> tuple[int, int, int]:
    """(missing in the service, extra in the service, rows that differ): a full-table compare."""
    monolith = {
        r[0]: r
        for r in _rows(rig.env["DATABASE_URL"], f"SELECT {PRODUCT_COLUMNS} FROM inventory_product")
    }
    service = {
        r[0]: r
        for r in _rows(rig.env["INVENTORY_DATABASE_URL"], f"SELECT {PRODUCT_COLUMNS} FROM products")
    }
    missing = len(monolith.keys() - service.keys())
    extra = len(service.keys() - monolith.keys())
    differing = sum(1 for k in monolith.keys() & service.keys() if monolith[k] != service[k])
    return missing, extra, differing


#: Convergence may take as long as the machine needs, as long as it moves: the test fails when
#: nothing was processed for this long (longer than a visibility timeout plus a restore look, the
#: longest a stranded message legitimately waits).
STALL_S = VISIBILITY_TIMEOUT_S + 30


def _wait_for_convergence(rig: SyncRig, seed: int) -> None:
    """Until the relay published everything and both tables are equal; fails when no event was
    processed for STALL_S meanwhile."""
    last = -1
    moved = time.monotonic()
    while True:
        if rig.outbox_stats()["pending"] == 0 and _differences(rig) == (0, 0, 0):
            return
        processed = int(rig.sync_stats()["events_processed"])
        if processed != last:
            last, moved = processed, time.monotonic()
        assert time.monotonic() - moved < STALL_S, (
            f"stalled at {processed} events processed, differences {_differences(rig)} "
            f"(seed {seed})"
        )
        time.sleep(1.0)  # polling a condition that has no notification


def test_ten_thousand_changes_survive_twenty_kills_and_a_redis_restart(
    chaos_rig: tuple[SyncRig, OwnRedis],
) -> None:
    rig, broker = chaos_rig
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    fleet = Fleet(rig)
    try:
        writing = ThreadPoolExecutor(1)
        writer = writing.submit(_write_changes, rig, seed)
        started = time.monotonic()
        # Random points of the write stream: after the outbox holds so many events.
        points = sorted(rng.sample(range(100, CHANGES * 9 // 10), KILLS))
        redis_restart_at = rng.randrange(KILLS)
        for kill, point in enumerate(points):
            wait_for(
                partial(_written_at_least, rig, point, writer),
                timeout=240,
                interval=0.1,
                message=f"{point} events written",
            )
            fleet.kill_and_restart(rng.choice(sorted(fleet.running)))
            if kill == redis_restart_at:
                broker.restart()
        writer.result(timeout=240)  # re-raises what went wrong in the writer
        writing.shutdown()
        print(f"wrote {CHANGES} changes in {time.monotonic() - started:.1f} s")
        assert len(fleet.killed) == KILLS

        _wait_for_convergence(rig, seed)
    finally:
        fleet.stop()

    assert _differences(rig) == (0, 0, 0), f"seed {seed}"  # nothing missing, nothing differs
    # Zero checksum differences as reconciliation computes them: range checksums in each owner's
    # own database, compared (exit 0: no drift; 3 would name the rows).
    reconciled = rig.strangler_sync("reconcile", "--json")
    assert reconciled.returncode == 0, reconciled.stdout[-3000:] + reconciled.stderr[-3000:]
    assert json.loads(reconciled.stdout)["source_rows"] == PRODUCTS_CREATED
    outbox = _rows(
        rig.env["DATABASE_URL"],
        "SELECT event_id, aggregate_id, version FROM outbox_outboxevent"
        " WHERE aggregate_type = 'product'",
    )
    processed_ids = [
        str(r[0])
        for r in _rows(rig.env["INVENTORY_DATABASE_URL"], "SELECT event_id FROM processed_events")
    ]
    assert len(outbox) == CHANGES
    # Zero duplicate effects: every event took effect at most once (one processed record per
    # distinct event id), and only the monolith's events did.
    assert len(processed_ids) == len(set(processed_ids))
    assert set(processed_ids) <= {str(r[0]) for r in outbox}
    # Nothing lost that mattered: the newest event of every product was processed. An older one
    # may be missing: kombu's Redis transport pops a message (RPOP) and records it as unacked in
    # a second command, so a worker SIGKILLed between the two loses it (celery/celery#7950,
    # celery/kombu#305); the events carry whole states, so the newer one makes up for it.
    newest: dict[str, tuple[int, str]] = {}
    for event_id, aggregate_id, version in outbox:
        if aggregate_id not in newest or version > newest[aggregate_id][0]:
            newest[aggregate_id] = (version, str(event_id))
    assert {event_id for _, event_id in newest.values()} <= set(processed_ids)
    lost = CHANGES - len(processed_ids)
    print(f"{lost} superseded event(s) lost in the broker's pop-to-unacked window (seed {seed})")
    # At most the messages the killed workers were taking, per kill; the relay sends up to
    # ENVELOPES_PER_MESSAGE events to a message (sync.event_batches).
    assert lost <= KILLS * 4 * ENVELOPES_PER_MESSAGE
    stats = rig.sync_stats()
    assert stats["events_applied"] + stats["events_skipped"] == len(processed_ids)
    assert stats["dead_letters"] == 0
