"""Start or resume backfills (what `strangler sync backfill` does), and follow their progress.

A job is named by its aggregate (``products``, ``reservations``, ``payments``, ``orders``;
sync.backfill_jobs) and owned by a capability. Where a job stands is its owner's checkpoint, read
from that service's ``GET /internal/sync/stats``; starting means sending ``monolith.backfill_page``
from the checkpoint's ``last_key`` (or from the start with ``restart``). From there the monolith's
worker and the owner's pass the job back and forth page by page: one chain.

With ``parallel`` above 1, a start (or restart) sends ``monolith.backfill_split`` instead: the
monolith picks key ranges, the owner opens a checkpoint per range, and one chain runs per range,
side by side (one chain moves one page at a time, so a single chain is bound by the fixed cost
of its two hops per page). A resume continues whatever layout the job has: each
unfinished range from its own checkpoint. The job's entry in the stats sums its ranges.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from celery import Celery

from contracts.backfill import PageRequest, SplitRequest, Wire
from contracts.events import Capability
from sync.backfill_jobs import JOBS, BackfillJob
from sync.backfill_pace import stagger
from sync.control.stats import BackfillState, SyncStats
from sync.task_names import BACKFILL_PAGE, BACKFILL_SPLIT

Action = Literal["started", "resumed", "restarted", "already done"]

MAX_PAGE_SIZE = 20_000
#: Most chains one job may run side by side (each holds a worker slot per side while busy).
MAX_PARALLEL = 64
#: Chains per job unless told: enough to hide one chain's per-page hops behind the others' work
#: on a couple of cores.
DEFAULT_PARALLEL = 4


@dataclass(frozen=True)
class BackfillStart:
    """What starting one job did, and what to compare later checkpoints against."""

    job: BackfillJob
    action: Action
    after_key: str | None
    #: The checkpoint as it was before this start (None: the job never ran).
    before: BackfillState | None
    #: The unfinished ranges a resume continues (empty: the job runs in one chain).
    ranges: tuple[BackfillState, ...] = ()

    @property
    def sent(self) -> bool:
        return self.action != "already done"

    def finished_in(self, stats: SyncStats) -> bool:
        """Whether ``stats`` (the job's owner's) shows this start's run finished (not an older
        run's done flag)."""
        now = stats.backfill(self.job.name)
        if not self.sent:
            return True
        if now is None or not now.done:
            return False
        return self.before is None or now.updated_at > self.before.updated_at

    def rows_done(self, stats: SyncStats) -> int:
        """Rows this run has copied so far, as ``stats`` (the job's owner's) show them (a resume
        counts the rows before it, too; a restart starts the checkpoint's rows over with its
        first page, and counts 0 until that lands)."""
        now = stats.backfill(self.job.name)
        if now is None:
            return 0
        if self.action == "restarted" and self.before and now.updated_at <= self.before.updated_at:
            return 0
        return now.rows


def jobs_named(aggregate: str) -> list[BackfillJob]:
    """A job's name (``products``, ``reservations``, ``payments``, ``orders``) or ``all``
    (every job of every capability)."""
    if aggregate == "all":
        return list(JOBS.values())
    try:
        return [JOBS[aggregate]]
    except KeyError:
        raise ValueError(
            f"unknown aggregate {aggregate!r} (choose from {', '.join([*JOBS, 'all'])})"
        ) from None


def plan_start(
    job: BackfillJob,
    checkpoint: BackfillState | None,
    *,
    restart: bool,
    ranges: list[BackfillState] | None = None,
) -> BackfillStart:
    """Where a job starts: from scratch, from its checkpoint (or its unfinished ranges', when it
    was split), or nowhere (it is done)."""
    if checkpoint is None:
        return BackfillStart(job, "started", None, None)
    if restart:
        return BackfillStart(job, "restarted", None, checkpoint)
    if checkpoint.done:
        return BackfillStart(job, "already done", checkpoint.last_key, checkpoint)
    unfinished = tuple(r for r in ranges or [] if not r.done)
    return BackfillStart(job, "resumed", checkpoint.last_key, checkpoint, unfinished)


def owners_of(jobs: list[BackfillJob]) -> list[Capability]:
    """The capabilities whose services keep the checkpoints of ``jobs`` (each once)."""
    return list(dict.fromkeys(job.capability for job in jobs))


def start_backfills(
    jobs: list[BackfillJob],
    stats: Mapping[Capability, SyncStats],
    sender: Celery,
    *,
    page_size: int,
    restart: bool,
    wire: Wire = "copy",
    rows_per_s: float | None = None,
    parallel: int = 1,
) -> list[BackfillStart]:
    """Send the first page request of each job (nothing for a job that is done, unless
    ``restart``). ``stats``: each owner's (``owners_of(jobs)``), where its jobs' checkpoints
    stand. ``wire``: how pages travel (``copy``: products, payments and orders as COPY text,
    the bulk path; ``json``: state dicts, as reservations always do). ``rows_per_s``: the
    throttle of each job, all its chains together (None: as fast as it goes). ``parallel``: how
    many key ranges a start or restart splits a job into (1: one chain, no split; a job that
    does not split always runs in one chain). Raises kombu's OperationalError when the broker
    refuses."""
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ValueError(f"page size must be between 1 and {MAX_PAGE_SIZE}, got {page_size}")
    if rows_per_s is not None and rows_per_s <= 0:
        raise ValueError(f"the throttle must be more than 0 rows/s, got {rows_per_s:g}")
    if not 1 <= parallel <= MAX_PARALLEL:
        raise ValueError(f"parallel must be between 1 and {MAX_PARALLEL}, got {parallel}")
    starts = [
        plan_start(
            job,
            stats[job.capability].backfill(job.name),
            restart=restart,
            ranges=stats[job.capability].ranges_of(job.name),
        )
        for job in jobs
    ]
    for start in starts:
        if not start.sent:
            continue
        job = start.job
        if start.ranges:
            share = rows_per_s / len(start.ranges) if rows_per_s else None
            for number, part in enumerate(start.ranges):
                request = PageRequest(
                    job=part.job,
                    aggregate_type=job.aggregate_type,
                    after_key=part.last_key,
                    page_size=page_size,
                    wire=wire,
                    rows_per_s=share,
                    end_key=part.end_key,
                )
                sender.send_task(
                    BACKFILL_PAGE,
                    kwargs=request.as_kwargs(),
                    countdown=stagger(number, page_size, rows_per_s) or None,
                )
        elif start.action != "resumed" and parallel > 1 and job.splits:
            split = SplitRequest(
                job=job.name,
                aggregate_type=job.aggregate_type,
                parallel=parallel,
                page_size=page_size,
                wire=wire,
                rows_per_s=rows_per_s,
            )
            sender.send_task(BACKFILL_SPLIT, kwargs=split.as_kwargs())
        else:
            request = PageRequest(
                job=job.name,
                aggregate_type=job.aggregate_type,
                after_key=start.after_key,
                page_size=page_size,
                restart=start.action == "restarted",
                wire=wire,
                rows_per_s=rows_per_s,
            )
            sender.send_task(BACKFILL_PAGE, kwargs=request.as_kwargs())
    return starts
