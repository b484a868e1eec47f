"""Backfill: keyset pages from the monolith, checkpointed batches into the service, resumable.

The module shares one seeded rig and its workers; each test starts from an empty inventory
service, so only its own backfill can have put rows there."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import psycopg
import pytest

from sync.task_names import BACKFILL_PAGE
from tests.support.inventory_api import all_products
from tests.support.waiting import wait_for
from tests.sync.rig import SyncRig, running_rig

pytestmark = pytest.mark.slow

#: Two dozen pages of PAGE.
PRODUCTS = 600
RESERVATIONS = 150
PAGE = 25
#: The products job in a single chain (split into ranges: tests/sync/test_backfill_ranges.py).
ONE_CHAIN = ("backfill", "--aggregate", "products", "--parallel", "1")


@pytest.fixture(scope="module")
def shared_rig(
    tmp_path_factory: pytest.TempPathFactory, module_redis_env: dict[str, str]
) -> Iterator[SyncRig]:
    """A rig whose monolith holds some hundreds of products and some reservations. No relay
    runs in these tests, so only the backfill can carry them over."""
    with running_rig(
        tmp_path_factory.mktemp("backfill"),
        module_redis_env,
        seed_products=PRODUCTS,
        seed_reservations=RESERVATIONS,
    ) as rig:
        yield rig


@pytest.fixture
def seeded_rig(shared_rig: SyncRig) -> SyncRig:
    """The module's rig with an empty inventory service (no rows, no checkpoints)."""
    shared_rig.empty_service("inventory")
    return shared_rig


def _reservation_ids(rig: SyncRig) -> list[str]:
    with psycopg.connect(rig.env["DATABASE_URL"]) as conn:
        rows = conn.execute("SELECT id FROM inventory_reservation ORDER BY id").fetchall()
    return [str(row[0]) for row in rows]


def _running(checkpoint: dict[str, Any] | None, at_least: int) -> bool:
    return checkpoint is not None and checkpoint["rows"] >= at_least and not checkpoint["done"]


def _at(timestamp: str) -> datetime:
    return datetime.fromisoformat(timestamp)


def _done(checkpoint: dict[str, Any] | None) -> bool:
    return checkpoint is not None and bool(checkpoint["done"])


def test_a_backfill_killed_mid_way_resumes_redoing_at_most_one_page(
    seeded_rig: SyncRig, monkeypatch: pytest.MonkeyPatch
) -> None:
    rig = seeded_rig
    rig.shared_workers("worker-monolith")
    doomed = rig.take_worker("worker-inventory")
    try:
        # Throttled (4 pages a second), so the run is surely still under way at the kill.
        started = rig.strangler_sync(*ONE_CHAIN, "--page-size", "25", "--throttle", "100")
        assert started.returncode == 0, started.stderr
        assert "products: started from the beginning" in started.stdout
        wait_for(
            lambda: _running(rig.checkpoint("products"), 4 * PAGE),
            message="the backfill to be under way",
        )
        doomed.kill()
    finally:
        doomed.stop()
    at_kill = rig.checkpoint("products")
    assert at_kill is not None and not at_kill["done"], "finished before the kill"

    # The worst case for a resume: the old run still has its next page in flight (as when
    # the worker died after asking for it). Both copies wait in the queue for the new worker.
    rig.sender(monkeypatch).send_task(
        BACKFILL_PAGE,
        kwargs={
            "job": "products",
            "aggregate_type": "product",
            "after_key": at_kill["last_key"],
            "page_size": PAGE,
        },
    )
    resumed = rig.strangler_sync(*ONE_CHAIN, "--page-size", "25")
    assert resumed.returncode == 0, resumed.stderr
    assert f"products: resumed after {at_kill['last_key']!r}" in resumed.stdout
    wait_for(lambda: rig.queued("inventory") >= 2, message="both copies of the page")

    [survivor] = rig.shared_workers("worker-inventory")
    wait_for(
        lambda: _done(rig.checkpoint("products")),
        timeout=120,
        message="the resumed backfill to finish",
    )

    done = rig.checkpoint("products")
    assert done is not None and done["done"]
    assert PRODUCTS <= done["rows"] <= PRODUCTS + PAGE  # at most one page copied twice
    service_rows = all_products(rig.inventory_url)
    assert len(service_rows) == PRODUCTS
    assert service_rows == all_products(rig.monolith_url)
    assert "products: dropped the batch after" in survivor.log_path.read_text()


def test_reservations_backfill_to_equal_rows_and_a_restart_counts_them_again(
    seeded_rig: SyncRig,
) -> None:
    rig = seeded_rig
    backfill = ("backfill", "--aggregate", "reservations", "--page-size", "40", "--wait")
    rig.shared_workers("worker-monolith", "worker-inventory")
    done = rig.strangler_sync(*backfill)
    assert done.returncode == 0, done.stderr
    ids = _reservation_ids(rig)
    assert len(ids) > 2 * 40  # several pages (the seed skips what stock cannot cover)
    assert all(rig.reservation_synced(reservation_id) for reservation_id in ids)
    checkpoint = rig.checkpoint("reservations")
    assert checkpoint is not None and checkpoint["rows"] == len(ids)

    again = rig.strangler_sync(*backfill, "--restart")
    assert again.returncode == 0, again.stderr
    assert "reservations: restarted from the beginning" in again.stdout
    restarted = rig.checkpoint("reservations")
    assert restarted is not None and restarted["done"]
    assert _at(restarted["updated_at"]) > _at(checkpoint["updated_at"])
    assert restarted["rows"] == len(ids)  # started over, not added to the first run's


def test_a_throttled_backfill_never_runs_ahead_of_its_rate(seeded_rig: SyncRig) -> None:
    rig = seeded_rig
    rate, page = 400.0, 100
    rig.shared_workers("worker-monolith", "worker-inventory")
    started = time.monotonic()
    begun = rig.strangler_sync(
        "backfill", "-a", "products", "--page-size", str(page), "--throttle", str(rate)
    )
    assert begun.returncode == 0, begun.stderr
    seen: list[tuple[float, int]] = []

    def three_pages_in() -> bool:
        checkpoint = rig.checkpoint("products")
        rows = checkpoint["rows"] if checkpoint else 0
        seen.append((time.monotonic() - started, rows))
        return rows >= 3 * page

    wait_for(three_pages_in, timeout=60, message="three throttled pages")
    # The chain runs to its end (a second and a half), so no page of it is left for the
    # module's next test.
    wait_for(lambda: _done(rig.checkpoint("products")), message="the throttled backfill")
    # Unthrottled, pages of 100 follow each other within a few hundredths of a second; at 400
    # rows/s each waits for its quarter second, so no observation is ahead of the rate (plus
    # the page in flight).
    assert all(rows <= page + rate * elapsed for elapsed, rows in seen), seen
    assert seen[-1][0] >= 2 * page / rate
