"""The pure parts of backfill and lag: where a job starts and when it counts as finished. (Which
batch is taken is the owner's rule: tests/extracted/inventory/test_backfill_batches.py.)"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sync.backfill_jobs import JOBS
from sync.control.backfill import (
    BackfillStart,
    jobs_named,
    owners_of,
    plan_start,
)
from sync.control.lag import SyncPicture
from sync.control.stats import BackfillState, OutboxStats, SyncStats

T0 = datetime(2026, 1, 1, tzinfo=UTC)
PRODUCTS = JOBS["products"]


#: A checkpoint of the products job, 100 rows in, as the monolith side reads it.
CHECKPOINT: dict[str, Any] = {
    "job": "products",
    "last_key": "SKU-00100",
    "rows": 100,
    "done": False,
    "updated_at": T0,
}


def checkpoint(**overrides: Any) -> BackfillState:
    return BackfillState(**{**CHECKPOINT, **overrides})


def sync_stats(*backfills: BackfillState, **overrides: Any) -> SyncStats:
    fields: dict[str, Any] = {
        "events_processed": 0,
        "events_applied": 0,
        "events_skipped": 0,
        "last_lag_s": None,
        "backfills": list(backfills),
    }
    fields.update(overrides)
    return SyncStats(**fields)


@pytest.mark.parametrize(
    ("before", "restart", "action", "after_key"),
    [
        (None, False, "started", None),
        (None, True, "started", None),
        (checkpoint(), False, "resumed", "SKU-00100"),
        (checkpoint(), True, "restarted", None),
        (checkpoint(done=True), False, "already done", "SKU-00100"),
        (checkpoint(done=True), True, "restarted", None),
    ],
)
def test_where_a_job_starts(
    before: BackfillState | None, restart: bool, action: str, after_key: str | None
) -> None:
    start = plan_start(PRODUCTS, before, restart=restart)
    assert (start.action, start.after_key) == (action, after_key)
    assert start.sent == (action != "already done")


def test_an_old_done_flag_does_not_finish_a_restart() -> None:
    start = plan_start(PRODUCTS, checkpoint(done=True, rows=100), restart=True)
    assert not start.finished_in(sync_stats(checkpoint(done=True, rows=100)))
    assert start.rows_done(sync_stats(checkpoint(done=True, rows=100))) == 0  # the old run's
    # The service starts the rows over with the restart's first page.
    later = checkpoint(done=True, rows=150, updated_at=T0 + timedelta(seconds=1))
    assert start.finished_in(sync_stats(later))
    assert start.rows_done(sync_stats(later)) == 150


def test_a_resume_counts_the_rows_before_it() -> None:
    start = plan_start(PRODUCTS, checkpoint(rows=100), restart=False)
    now = checkpoint(rows=180, last_key="SKU-00180", updated_at=T0 + timedelta(seconds=1))
    assert start.rows_done(sync_stats(now)) == 180
    assert not start.finished_in(sync_stats(now))


def test_jobs_by_name_and_their_owners() -> None:
    every = jobs_named("all")
    assert [job.name for job in every] == ["products", "reservations", "payments", "orders"]
    assert owners_of(every) == ["inventory", "payments", "orders"]
    assert owners_of(jobs_named("reservations")) == ["inventory"]
    assert [(job.key_field, job.batch_task, job.ranges_task) for job in jobs_named("orders")] == [
        ("id", "orders.apply_backfill_batch", "orders.open_backfill_ranges")
    ]
    assert jobs_named("payments")[0].batch_task == "payments.apply_backfill_batch"
    with pytest.raises(ValueError, match="unknown aggregate 'shipments'"):
        jobs_named("shipments")


def test_the_lag_picture() -> None:
    outbox = OutboxStats(
        pending=3, total=10, oldest_pending_age_s=1.5, by_aggregate_type={"product": 10}
    )
    picture = SyncPicture(outbox=outbox, sync=sync_stats(events_processed=5, last_lag_s=0.2))
    assert (picture.backlog, picture.published, picture.in_flight) == (3, 7, 2)
    assert not picture.caught_up
    settled = OutboxStats(
        pending=0, total=10, oldest_pending_age_s=None, by_aggregate_type={"product": 10}
    )
    assert SyncPicture(outbox=settled, sync=sync_stats(events_processed=10)).caught_up
    assert isinstance(plan_start(PRODUCTS, None, restart=False), BackfillStart)


def _range(number: int, **overrides: Any) -> BackfillState:
    return checkpoint(job=f"products#{number}", parent="products", **overrides)


def test_a_split_job_resumes_its_unfinished_ranges_and_reads_as_their_sum() -> None:
    ranges = [_range(n, done=n % 2 == 0, end_key=f"k{n}") for n in (10, 9, 2, 1)]
    whole = checkpoint(last_key=None, rows=400, ranges=4)
    stats = sync_stats(whole, *ranges)
    assert [r.job for r in stats.ranges_of("products")] == [
        "products#1",
        "products#2",
        "products#9",
        "products#10",
    ]
    start = plan_start(
        PRODUCTS, stats.backfill("products"), restart=False, ranges=stats.ranges_of("products")
    )
    assert start.action == "resumed"
    assert [r.job for r in start.ranges] == ["products#1", "products#9"]  # the unfinished ones
    assert start.rows_done(stats) == 400
    # A restart or a finished job continues no range.
    assert plan_start(PRODUCTS, whole, restart=True, ranges=ranges).ranges == ()
    done = plan_start(PRODUCTS, checkpoint(done=True), restart=False, ranges=ranges)
    assert (done.action, done.ranges) == ("already done", ())


def test_only_jobs_with_a_splitter_split() -> None:
    assert [job.name for job in JOBS.values() if job.splits] == ["products", "payments", "orders"]
