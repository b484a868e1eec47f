"""The backfill tasks every owner side registers (``sync.inventory_worker``,
``sync.payments_worker``, ``sync.orders_worker``): one definition of the page tasks (a keyset page
as COPY text, the bulk path, or as state dicts: what ``monolith.backfill_page`` sends) and of the
task that opens a split job's ranges, bound to the owner's functions, and the chain that asks the
monolith for the next page.
It imports no service: each worker hands in its own service's functions, whose results are the
chassis's (``extracted.chassis.backfill_checkpoints``).

A job runs as a chain per key range: the monolith reads page N and sends it here; the owner takes
it if it is in turn and asks for page N+1 before writing N (``Chain.ask_for_next_page``), so
reading and writing overlap; a page the owner drops (a copy from an older run) ends its chain.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from celery import Celery

from extracted.chassis.backfill_checkpoints import BatchResult, Checkpoint
from extracted.chassis.dead_letters import TRANSIENT_DB_ERRORS
from extracted.chassis.subscriber import SyncInputError
from sync.backfill_pace import stagger, throttle_countdown
from sync.celery_app import transient_retry
from sync.page_store import TRANSIENT_STORE_ERRORS, store_for
from sync.settings import SyncSettings
from sync.task_names import BACKFILL_PAGE

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Chain:
    """What a backfill page needs to ask for the next one."""

    sender: Celery
    job: str
    aggregate_type: str
    last_key: str | None
    done: bool
    page_size: int
    wire: str
    rows_per_s: float | None
    read_at: float | None
    #: The end of the chain's range (None: the job is not split, or the last range).
    end_key: str | None = None

    def ask_for_next_page(self, countdown: float | None = None) -> None:
        """Runs once the owner found the page in turn (checkpoint locked, rows not yet
        written): the monolith reads the next page while this one is written, and that page
        waits on the checkpoint's lock (``extracted.chassis.backfill_checkpoints``).
        ``countdown``: when to ask (default: the throttle's spacing)."""
        if self.done:
            return
        if countdown is None:
            countdown = throttle_countdown(self.page_size, self.rows_per_s, self.read_at)
        self.ask_for_page(self.last_key, False, countdown)

    def ask_for_page(
        self, after_key: str | None, restart: bool = False, countdown: float | None = None
    ) -> None:
        """Ask the monolith for the page of this chain's job after ``after_key`` (``restart``:
        the first page of a run started over)."""
        self.sender.send_task(
            BACKFILL_PAGE,
            kwargs={
                "job": self.job,
                "aggregate_type": self.aggregate_type,
                "after_key": after_key,
                "page_size": self.page_size,
                "restart": restart,
                "wire": self.wire,
                "rows_per_s": self.rows_per_s,
                **({"end_key": self.end_key} if self.end_key is not None else {}),
            },
            countdown=countdown or None,
        )

    def report(self, result: BatchResult, after_key: str | None) -> int:
        if not result.taken:
            logger.info(
                "backfill %s: dropped the batch after %r, the checkpoint is at %r%s",
                self.job,
                after_key,
                result.checkpoint.last_key,
                " (done)" if result.checkpoint.done else "",
            )
            return 0
        if self.done:
            logger.info("backfill %s: done (last key %r)", self.job, self.last_key)
        return result.written


@dataclass(frozen=True)
class BackfillTasks:
    """The three tasks registered for one capability."""

    apply_backfill_batch: Any
    apply_backfill_copy: Any
    open_backfill_ranges: Any


def register_backfill_tasks(
    app: Celery,
    *,
    batch_task: str,
    copy_task: str,
    ranges_task: str,
    apply_batch: Callable[..., BatchResult],
    apply_copy: Callable[..., BatchResult],
    copy_aggregate: str,
    open_ranges: Callable[..., list[Checkpoint]],
) -> BackfillTasks:
    """Register on ``app`` the capability's ``batch_task`` (one keyset page of state dicts,
    applied by the owner's ``apply_batch`` with its checkpoint), ``copy_task`` (a page of
    ``copy_aggregate`` as COPY text, applied by ``apply_copy``) and ``ranges_task`` (open a split
    job's ranges with the owner's ``open_ranges``, then start a chain per range). A transient
    database error retries the message (the checkpoint makes a retry harmless); a page that does
    not fit the contract or that the owner's database refuses is logged and ends its chain,
    nothing of it applied (a resume asks for it again once the cause is fixed)."""

    @app.task(name=batch_task, **transient_retry(*TRANSIENT_DB_ERRORS))
    def apply_backfill_batch(
        job: str,
        aggregate_type: str,
        rows: list[dict[str, Any]],
        last_key: str | None,
        done: bool,
        page_size: int,
        after_key: str | None = None,
        restart: bool = False,
        rows_per_s: float | None = None,
        read_at: float | None = None,
        end_key: str | None = None,
    ) -> int:
        """Hand one backfill page to the owner, which asks for the next one once it is in turn.

        The owner takes the page only when its checkpoint stands where the page starts
        (``after_key``) or the page opens a restarted backfill, deciding and applying in one
        transaction. A page it drops (a copy from an older run still in flight after a crash)
        ends its chain here, so only the chain whose pages are taken goes on, and a resume
        redoes at most the page that was in flight.
        """
        chain = Chain(
            app,
            job,
            aggregate_type,
            last_key,
            done,
            page_size,
            "json",
            rows_per_s,
            read_at,
            end_key,
        )
        try:
            result = apply_batch(
                job=job,
                aggregate_type=aggregate_type,
                rows=rows,
                after_key=after_key,
                last_key=last_key,
                done=done,
                restart=restart,
                on_taken=chain.ask_for_next_page,
                end_key=end_key,
            )
        except SyncInputError as err:
            logger.error("backfill %s: poison batch after %r refused: %s", job, after_key, err)
            return 0
        return chain.report(result, after_key)

    @app.task(name=copy_task, **transient_retry(*TRANSIENT_DB_ERRORS, *TRANSIENT_STORE_ERRORS))
    def apply_backfill_copy(
        job: str,
        aggregate_type: str,
        last_key: str | None,
        done: bool,
        page_size: int,
        page: str | None = None,
        page_ref: str | None = None,
        after_key: str | None = None,
        restart: bool = False,
        rows_per_s: float | None = None,
        read_at: float | None = None,
        end_key: str | None = None,
    ) -> int:
        """The bulk path of ``apply_backfill_batch``: a page as COPY text (contracts.copy_text),
        applied by the owner with COPY. The page comes in the message (``page``) or, with a Redis
        broker, as the key of its bytes beside it (``page_ref``, sync.page_store), deleted once
        the page is applied or dropped."""
        if aggregate_type != copy_aggregate:
            logger.error(
                "backfill %s: a COPY page of %r refused (%s only)",
                job,
                aggregate_type,
                copy_aggregate,
            )
            return 0
        wire = "copy"
        chain = Chain(
            app, job, aggregate_type, last_key, done, page_size, wire, rows_per_s, read_at, end_key
        )
        store = store_for(SyncSettings()) if page_ref is not None else None
        content: str | bytes | None = page
        if page_ref is not None:
            content = store.get(page_ref) if store is not None else None
            if content is None:
                # Expired, or deleted after this message was handled once (a crash before its
                # ack): ask for the page again; the checkpoint takes or drops that copy.
                gone = "backfill %s: the page after %r is gone; asking again"
                logger.warning(gone, job, after_key)
                chain.ask_for_page(after_key, restart)
                return 0
        if content is None:
            logger.error("backfill %s: a COPY page after %r without a page refused", job, after_key)
            return 0
        try:
            result = apply_copy(
                job=job,
                page=content,
                after_key=after_key,
                last_key=last_key,
                done=done,
                restart=restart,
                on_taken=chain.ask_for_next_page,
                end_key=end_key,
            )
        except SyncInputError as err:
            logger.error("backfill %s: poison page after %r refused: %s", job, after_key, err)
            result = None
        if store is not None and page_ref is not None:
            store.delete(page_ref)
        return 0 if result is None else chain.report(result, after_key)

    @app.task(name=ranges_task, **transient_retry(*TRANSIENT_DB_ERRORS))
    def open_backfill_ranges(
        job: str,
        aggregate_type: str,
        ends: list[str],
        page_size: int,
        wire: str = "copy",
        rows_per_s: float | None = None,
    ) -> int:
        """Open the ranges the monolith split ``job`` into (the owner's ``open_ranges``: one
        checkpoint each, replacing what the job had), then start one chain per range. The
        throttle is the job's: each chain gets its share, and the chains start a page's share
        of time apart (``sync.backfill_pace.stagger``).

        Opening commits before any chain starts, so a crash in between leaves ranges at their
        start for a resume; a redelivered message opens them again (the chains already running
        find their checkpoints moved and stop: rows are copied again, none is lost)."""
        try:
            ranges = open_ranges(job=job, ends=ends)
        except SyncInputError as err:
            logger.error("backfill %s: ranges refused: %s", job, err)
            return 0
        share = rows_per_s / len(ranges) if rows_per_s else None
        for number, checkpoint in enumerate(ranges):
            Chain(
                app,
                checkpoint.job,
                aggregate_type,
                checkpoint.last_key,
                False,
                page_size,
                wire,
                share,
                None,
                checkpoint.end_key,
            ).ask_for_next_page(countdown=stagger(number, page_size, rows_per_s))
        logger.info("backfill %s: opened %d range(s)", job, len(ranges))
        return len(ranges)

    return BackfillTasks(
        apply_backfill_batch=apply_backfill_batch,
        apply_backfill_copy=apply_backfill_copy,
        open_backfill_ranges=open_backfill_ranges,
    )
