"""Start or resume backfills (what `strangler sync backfill` does), and follow their progress.

A job is named by its aggregate (``products``, ``reservations``; sync.backfill_jobs). Where a job
stands is the service's checkpoint, read from ``GET /internal/sync/stats``; starting means sending
``monolith.backfill_page`` from the checkpoint's ``last_key`` (or from the start with
``restart``). From there the two workers pass the job back and forth page by page.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

from celery import Celery

from sync.backfill_jobs import JOBS, BackfillJob
from sync.celery_app import MAX_RETRY_COUNTDOWN_S
from sync.stats import BackfillState, SyncStats
from sync.task_names import BACKFILL_PAGE

Action = Literal["started", "resumed", "restarted", "already done"]
Wire = Literal["copy", "json"]

MAX_PAGE_SIZE = 20_000


@dataclass(frozen=True)
class BackfillStart:
    """What starting one job did, and what to compare later checkpoints against."""

    job: BackfillJob
    action: Action
    after_key: str | None
    #: The checkpoint as it was before this start (None: the job never ran).
    before: BackfillState | None

    @property
    def sent(self) -> bool:
        return self.action != "already done"

    def finished_in(self, stats: SyncStats) -> bool:
        """Whether ``stats`` shows this start's run finished (not an older run's done flag)."""
        now = stats.backfill(self.job.name)
        if not self.sent:
            return True
        if now is None or not now.done:
            return False
        return self.before is None or now.updated_at > self.before.updated_at

    def rows_done(self, stats: SyncStats) -> int:
        """Rows this run has copied so far (a resume counts the rows before it, too; a restart
        starts the checkpoint's rows over with its first page, and counts 0 until that lands)."""
        now = stats.backfill(self.job.name)
        if now is None:
            return 0
        if self.action == "restarted" and self.before and now.updated_at <= self.before.updated_at:
            return 0
        return now.rows


def throttle_countdown(rows: int, rows_per_s: float | None, read_at: float | None) -> float:
    """Seconds to wait before asking for the next page so a job averages ``rows_per_s``: the
    page's share of time (rows / rate) minus what has passed since it was read (``read_at``,
    ``time.time()``); capped at MAX_RETRY_COUNTDOWN_S (an ETA message must stay under the
    broker's visibility timeout)."""
    if not rows_per_s or read_at is None:
        return 0.0
    wait = read_at + rows / rows_per_s - time.time()
    return min(max(wait, 0.0), float(MAX_RETRY_COUNTDOWN_S))


def jobs_named(aggregate: str) -> list[BackfillJob]:
    """``products`` | ``reservations`` | ``all``."""
    if aggregate == "all":
        return list(JOBS.values())
    try:
        return [JOBS[aggregate]]
    except KeyError:
        raise ValueError(
            f"unknown aggregate {aggregate!r} (choose from {', '.join([*JOBS, 'all'])})"
        ) from None


def plan_start(
    job: BackfillJob, checkpoint: BackfillState | None, *, restart: bool
) -> BackfillStart:
    """Where a job starts: from scratch, from its checkpoint, or nowhere (it is done)."""
    if checkpoint is None:
        return BackfillStart(job, "started", None, None)
    if restart:
        return BackfillStart(job, "restarted", None, checkpoint)
    if checkpoint.done:
        return BackfillStart(job, "already done", checkpoint.last_key, checkpoint)
    return BackfillStart(job, "resumed", checkpoint.last_key, checkpoint)


def start_backfills(
    jobs: list[BackfillJob],
    stats: SyncStats,
    sender: Celery,
    *,
    page_size: int,
    restart: bool,
    wire: Wire = "copy",
    rows_per_s: float | None = None,
) -> list[BackfillStart]:
    """Send the first page request of each job (nothing for a job that is done, unless
    ``restart``). ``wire``: how pages travel (``copy``: products as COPY text, the bulk path;
    ``json``: state dicts). ``rows_per_s``: the throttle (None: as fast as it goes). Raises
    kombu's OperationalError when the broker refuses."""
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ValueError(f"page size must be between 1 and {MAX_PAGE_SIZE}, got {page_size}")
    if rows_per_s is not None and rows_per_s <= 0:
        raise ValueError(f"the throttle must be more than 0 rows/s, got {rows_per_s:g}")
    starts = [plan_start(job, stats.backfill(job.name), restart=restart) for job in jobs]
    for start in starts:
        if start.sent:
            sender.send_task(
                BACKFILL_PAGE,
                kwargs={
                    "job": start.job.name,
                    "aggregate_type": start.job.aggregate_type,
                    "after_key": start.after_key,
                    "page_size": page_size,
                    "restart": start.action == "restarted",
                    "wire": wire,
                    "rows_per_s": rows_per_s,
                },
            )
    return starts
