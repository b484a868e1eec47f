"""The backfill tasks every owner side registers (``sync.inventory_worker``,
``sync.payments_worker``, ``sync.orders_worker``): one definition of the page tasks (a keyset page
as COPY text, the bulk path, or as state dicts: what ``monolith.backfill_page`` sends) and of the
task that opens a split job's ranges, bound to the owner's functions, and the chain that asks the
monolith for the next page.
It imports no service: each worker hands in its own service's functions, whose results are the
chassis's (``extracted.chassis.sync.backfill_checkpoints``).

A job runs as a chain per key range: the monolith reads page N and sends it here; the owner takes
it if it is in turn and asks for page N+1 before writing N (``Chain.ask_for_next_page``), so
reading and writing overlap; a page the owner drops (a copy from an older run) ends its chain.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from celery import Celery
from pydantic import ValidationError

from contracts.backfill import CopyPage, OpenRanges, Page, PageRequest, StatePage, Wire
from contracts.events import Capability
from extracted.chassis.sync.backfill_checkpoints import BatchResult, Checkpoint
from extracted.chassis.sync.dead_letters import TRANSIENT_DB_ERRORS
from extracted.chassis.sync.subscriber import SyncInputError
from sync.backfill_pace import stagger, throttle_countdown
from sync.celery_app import transient_retry
from sync.page_store import store_for, transient_store_errors
from sync.settings import SyncSettings
from sync.task_names import BACKFILL_PAGE, task_name

logger = logging.getLogger(__name__)

M = TypeVar("M", StatePage, CopyPage, OpenRanges)


@dataclass(frozen=True)
class Chain:
    """What a backfill page needs to ask for the next one."""

    sender: Celery
    #: The request for the page after the one in hand.
    next: PageRequest
    #: The page in hand was the chain's last.
    done: bool
    #: When the monolith read the page in hand (None: no page yet), for the throttle's spacing.
    read_at: float | None

    @classmethod
    def after(cls, sender: Celery, page: Page, wire: Wire) -> Chain:
        return cls(sender, page.next_request(wire), page.done, page.read_at)

    def ask_for_next_page(self, countdown: float | None = None) -> None:
        """Runs once the owner found the page in turn (checkpoint locked, rows not yet
        written): the monolith reads the next page while this one is written, and that page
        waits on the checkpoint's lock (``extracted.chassis.sync.backfill_checkpoints``).
        ``countdown``: when to ask (default: the throttle's spacing)."""
        if self.done:
            return
        if countdown is None:
            request = self.next
            countdown = throttle_countdown(request.page_size, request.rows_per_s, self.read_at)
        self.ask_for(self.next, countdown)

    def ask_for(self, request: PageRequest, countdown: float | None = None) -> None:
        """Ask the monolith for the page ``request`` names."""
        self.sender.send_task(
            BACKFILL_PAGE, kwargs=request.as_kwargs(), countdown=countdown or None
        )

    def report(self, result: BatchResult, after_key: str | None) -> int:
        job = self.next.job
        if not result.taken:
            logger.info(
                "backfill %s: dropped the batch after %r, the checkpoint is at %r%s",
                job,
                after_key,
                result.checkpoint.last_key,
                " (done)" if result.checkpoint.done else "",
            )
            return 0
        if self.done:
            logger.info("backfill %s: done (last key %r)", job, self.next.after_key)
        return result.written


def _message(kind: type[M], fields: dict[str, Any]) -> M | None:
    """The task's keyword arguments as ``kind``; None (logged) when they do not fit it."""
    try:
        return kind.model_validate(fields)
    except ValidationError as err:
        job = fields.get("job")
        logger.error(
            "backfill %s: a %s that does not fit the contract refused: %s", job, kind.__name__, err
        )
        return None


@dataclass(frozen=True)
class BackfillTasks:
    """The three tasks registered for one capability."""

    apply_backfill_batch: Any
    apply_backfill_copy: Any
    open_backfill_ranges: Any


def register_backfill_tasks(
    app: Celery,
    *,
    capability: Capability,
    apply_batch: Callable[..., BatchResult],
    apply_copy: Callable[..., BatchResult],
    copy_aggregate: str,
    open_ranges: Callable[..., list[Checkpoint]],
) -> BackfillTasks:
    """Register on ``app`` the capability's ``apply_backfill_batch`` (one keyset page of state
    dicts, applied by the owner's ``apply_batch`` with its checkpoint), ``apply_backfill_copy``
    (a page of ``copy_aggregate`` as COPY text, applied by ``apply_copy``) and
    ``open_backfill_ranges`` (open a split job's ranges with the owner's ``open_ranges``, then
    start a chain per range); ``sync.task_names.task_name`` names them. A transient
    database error retries the message (the checkpoint makes a retry harmless); a page that does
    not fit the contract or that the owner's database refuses is logged and ends its chain,
    nothing of it applied (a resume asks for it again once the cause is fixed)."""

    @app.task(
        name=task_name(capability, "apply_backfill_batch"), **transient_retry(*TRANSIENT_DB_ERRORS)
    )
    def apply_backfill_batch(**fields: Any) -> int:
        """Hand one backfill page (``contracts.backfill.StatePage``) to the owner, which asks for
        the next one once it is in turn.

        The owner takes the page only when its checkpoint stands where the page starts
        (``after_key``) or the page opens a restarted backfill, deciding and applying in one
        transaction. A page it drops (a copy from an older run still in flight after a crash)
        ends its chain here, so only the chain whose pages are taken goes on, and a resume
        redoes at most the page that was in flight.
        """
        page = _message(StatePage, fields)
        if page is None:
            return 0
        chain = Chain.after(app, page, "json")
        try:
            result = apply_batch(
                job=page.job,
                aggregate_type=page.aggregate_type,
                rows=page.rows,
                after_key=page.after_key,
                last_key=page.last_key,
                done=page.done,
                restart=page.restart,
                on_taken=chain.ask_for_next_page,
                end_key=page.end_key,
            )
        except SyncInputError as err:
            logger.error(
                "backfill %s: poison batch after %r refused: %s", page.job, page.after_key, err
            )
            return 0
        return chain.report(result, page.after_key)

    @app.task(
        name=task_name(capability, "apply_backfill_copy"),
        **transient_retry(*TRANSIENT_DB_ERRORS, *transient_store_errors(SyncSettings())),
    )
    def apply_backfill_copy(**fields: Any) -> int:
        """The bulk path of ``apply_backfill_batch``: a page as COPY text
        (``contracts.backfill.CopyPage``, ``protocol.copy_text``), applied by the owner with COPY.
        The page comes in the message (``page``) or, with a Redis broker, as the key of its bytes
        beside it (``page_ref``, sync.page_store), deleted once the page is applied or dropped."""
        page = _message(CopyPage, fields)
        if page is None:
            return 0
        job, after_key = page.job, page.after_key
        if page.aggregate_type != copy_aggregate:
            logger.error(
                "backfill %s: a COPY page of %r refused (%s only)",
                job,
                page.aggregate_type,
                copy_aggregate,
            )
            return 0
        chain = Chain.after(app, page, "copy")
        store = store_for(SyncSettings()) if page.page_ref is not None else None
        content: str | bytes | None = page.page
        if page.page_ref is not None:
            content = store.get(page.page_ref) if store is not None else None
            if content is None:
                # Expired, or deleted after this message was handled once (a crash before its
                # ack): ask for the page again; the checkpoint takes or drops that copy.
                gone = "backfill %s: the page after %r is gone; asking again"
                logger.warning(gone, job, after_key)
                again = chain.next.model_copy(
                    update={"after_key": after_key, "restart": page.restart}
                )
                chain.ask_for(again)
                return 0
        if content is None:
            logger.error("backfill %s: a COPY page after %r without a page refused", job, after_key)
            return 0
        try:
            result = apply_copy(
                job=job,
                page=content,
                after_key=after_key,
                last_key=page.last_key,
                done=page.done,
                restart=page.restart,
                on_taken=chain.ask_for_next_page,
                end_key=page.end_key,
            )
        except SyncInputError as err:
            logger.error("backfill %s: poison page after %r refused: %s", job, after_key, err)
            result = None
        if store is not None and page.page_ref is not None:
            store.delete(page.page_ref)
        return 0 if result is None else chain.report(result, after_key)

    @app.task(
        name=task_name(capability, "open_backfill_ranges"), **transient_retry(*TRANSIENT_DB_ERRORS)
    )
    def open_backfill_ranges(**fields: Any) -> int:
        """Open the ranges the monolith split the job into (``contracts.backfill.OpenRanges``;
        the owner's ``open_ranges``: one checkpoint each, replacing what the job had), then
        start one chain per range. The throttle is the job's: each chain gets its share, and the
        chains start a page's share of time apart (``sync.backfill_pace.stagger``).

        Opening commits before any chain starts, so a crash in between leaves ranges at their
        start for a resume; a redelivered message opens them again (the chains already running
        find their checkpoints moved and stop: rows are copied again, none is lost)."""
        opening = _message(OpenRanges, fields)
        if opening is None:
            return 0
        try:
            ranges = open_ranges(job=opening.job, ends=opening.ends)
        except SyncInputError as err:
            logger.error("backfill %s: ranges refused: %s", opening.job, err)
            return 0
        page_size, rows_per_s = opening.page_size, opening.rows_per_s
        share = rows_per_s / len(ranges) if rows_per_s else None
        for number, checkpoint in enumerate(ranges):
            first = PageRequest(
                job=checkpoint.job,
                aggregate_type=opening.aggregate_type,
                after_key=checkpoint.last_key,
                page_size=page_size,
                wire=opening.wire,
                rows_per_s=share,
                end_key=checkpoint.end_key,
            )
            Chain(app, first, done=False, read_at=None).ask_for_next_page(
                countdown=stagger(number, page_size, rows_per_s)
            )
        logger.info("backfill %s: opened %d range(s)", opening.job, len(ranges))
        return len(ranges)

    return BackfillTasks(
        apply_backfill_batch=apply_backfill_batch,
        apply_backfill_copy=apply_backfill_copy,
        open_backfill_ranges=open_backfill_ranges,
    )
