"""A backfill split into key ranges (`strangler sync backfill --parallel N`): one chain per range
through real workers, each resumable on its own after a SIGKILL.

The module shares one seeded rig and its workers; each test starts from an empty inventory
service."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import redis

from sync.page_store import KEY_PREFIX
from sync.task_names import BACKFILL_PAGE
from tests.support.inventory_api import all_products
from tests.support.processes import REPO_ROOT, VENV_BIN
from tests.support.waiting import wait_for
from tests.sync.rig import SyncRig, running_rig

pytestmark = pytest.mark.slow

PRODUCTS = 3000
PAGE = 25
RANGES = 4


@pytest.fixture(scope="module")
def shared_rig(
    tmp_path_factory: pytest.TempPathFactory, module_redis_env: dict[str, str]
) -> Iterator[SyncRig]:
    """A monolith holding a few thousand products; no relay runs, only the backfill copies."""
    tmp = tmp_path_factory.mktemp("ranges")
    with running_rig(tmp, module_redis_env, seed_products=PRODUCTS) as rig:
        yield rig


@pytest.fixture
def seeded_rig(shared_rig: SyncRig) -> SyncRig:
    """The module's rig with an empty inventory service (no rows, no checkpoints)."""
    shared_rig.empty_service("inventory")
    return shared_rig


def _ranges(rig: SyncRig) -> list[dict[str, Any]]:
    parts = [b for b in rig.sync_stats()["backfills"] if b.get("parent") == "products"]
    return sorted(parts, key=lambda b: int(b["job"].rsplit("#", 1)[1]))


def _monolith_skus(rig: SyncRig) -> list[str]:
    with psycopg.connect(rig.env["DATABASE_URL"]) as conn:
        rows = conn.execute("SELECT sku FROM inventory_product ORDER BY sku").fetchall()
    return [str(row[0]) for row in rows]


def _under_way(rig: SyncRig) -> bool:
    job = rig.checkpoint("products")
    return job is not None and job["rows"] >= 10 * PAGE and not job["done"]


def _done(rig: SyncRig) -> bool:
    job = rig.checkpoint("products")
    return job is not None and bool(job["done"])


def test_a_split_backfill_killed_mid_way_resumes_each_range_redoing_at_most_one_page(
    seeded_rig: SyncRig, monkeypatch: pytest.MonkeyPatch
) -> None:
    rig = seeded_rig
    backfill = ("backfill", "-a", "products", "--page-size", str(PAGE))
    rig.shared_workers("worker-monolith")
    doomed = rig.take_worker("worker-inventory")
    try:
        started = rig.strangler_sync(*backfill, "--parallel", str(RANGES))
        assert started.returncode == 0, started.stderr
        assert "products: started from the beginning" in started.stdout
        wait_for(lambda: _under_way(rig), message="the chains to be under way")
        doomed.kill()
    finally:
        doomed.stop()
    at_kill = _ranges(rig)
    assert len(at_kill) == RANGES
    unfinished = [part for part in at_kill if not part["done"]]
    assert len(unfinished) >= 2, at_kill
    assert sum(part["rows"] > 0 for part in at_kill) >= 2, "the chains did not run side by side"

    # The worst case for each chain: its next page is still in flight from the old run.
    sender = rig.sender(monkeypatch)
    for part in unfinished:
        sender.send_task(
            BACKFILL_PAGE,
            kwargs={
                "job": part["job"],
                "aggregate_type": "product",
                "after_key": part["last_key"],
                "page_size": PAGE,
                **({"end_key": part["end_key"]} if part["end_key"] is not None else {}),
            },
        )
    # A resume keeps the job's ranges, whatever --parallel says.
    resumed = rig.strangler_sync(*backfill, "--parallel", "2")
    assert resumed.returncode == 0, resumed.stderr
    assert f"products: resumed {len(unfinished)} range(s)" in resumed.stdout
    for part in unfinished:
        assert f"{part['job']}: resumed after {part['last_key']!r}" in resumed.stdout

    [survivor] = rig.shared_workers("worker-inventory")
    wait_for(lambda: _done(rig), timeout=120, message="the resumed ranges to finish")

    skus = _monolith_skus(rig)
    done = _ranges(rig)
    assert [part["job"] for part in done] == [part["job"] for part in at_kill]
    start: str | None = None
    for part in done:
        end = part["end_key"]
        size = sum(
            1 for sku in skus if (start is None or sku > start) and (end is None or sku <= end)
        )
        assert part["done"]
        assert size <= part["rows"] <= size + PAGE, (part, size)  # at most one page twice
        start = end
    assert start is None  # the last range runs to the end of the keys
    total = rig.checkpoint("products")
    assert total is not None and PRODUCTS <= total["rows"] <= PRODUCTS + len(unfinished) * PAGE
    service_rows = all_products(rig.inventory_url)
    assert len(service_rows) == PRODUCTS
    assert service_rows == all_products(rig.monolith_url)
    assert "dropped the batch after" in survivor.log_path.read_text()


@pytest.mark.parametrize("value", ["0", "65", "-3"])
def test_a_bad_parallel_is_one_line_and_exit_1(redis_env: dict[str, str], value: str) -> None:
    done = subprocess.run(
        [str(VENV_BIN / "strangler"), "sync", "backfill", f"--parallel={value}"],
        env={**os.environ, **redis_env},
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert lines == [f"strangler sync: --parallel must be between 1 and 64, got {value}"]
    assert done.stdout == ""


def _page_keys(rig: SyncRig) -> list[bytes]:
    client = redis.Redis.from_url(rig.env["CELERY_BROKER_URL"])
    try:
        pattern = f"{rig.env['STRANGLER_QUEUE_PREFIX']}{KEY_PREFIX}*"
        return list(client.scan_iter(match=pattern))
    finally:
        client.close()


def test_pages_travel_beside_their_messages_and_a_lost_one_is_read_again(
    seeded_rig: SyncRig,
) -> None:
    rig = seeded_rig
    rig.stop_shared_worker("worker-inventory")
    rig.shared_workers("worker-monolith")
    # Pages an earlier test's killed worker held (they expire in their time).
    earlier = set(_page_keys(rig))
    # One chain: a split would wait for the inventory worker to open its ranges.
    started = rig.strangler_sync(
        "backfill", "-a", "products", "--page-size", "500", "--parallel", "1"
    )
    assert started.returncode == 0, started.stderr
    # No inventory worker yet: the first page waits in Redis beside its message.
    wait_for(lambda: rig.queued("inventory") == 1, message="the first page")
    stored = [key for key in _page_keys(rig) if key not in earlier]
    assert len(stored) == 1
    client = redis.Redis.from_url(rig.env["CELERY_BROKER_URL"])
    try:
        client.delete(*stored)  # as if they had expired
    finally:
        client.close()
    [inventory] = rig.shared_workers("worker-inventory")
    wait_for(lambda: _done(rig), timeout=120, message="the backfill to finish")
    assert "is gone; asking again" in inventory.log_path.read_text()
    assert all_products(rig.inventory_url) == all_products(rig.monolith_url)
    total = rig.checkpoint("products")
    assert total is not None and total["rows"] == PRODUCTS  # the lost pages copied once
    assert set(_page_keys(rig)) <= earlier  # every page of this test deleted once applied
