"""The inventory side of sync: ``celery -A sync.inventory_worker worker``.

It writes the inventory service's database only, through the service's own functions
(``extracted.inventory.sync``); it never imports the monolith (.importlinter checks it).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from extracted.chassis.dead_letters import TRANSIENT_DB_ERRORS
from extracted.inventory import bulk_load, dead_letters
from extracted.inventory import sync as owner
from extracted.inventory.sync import BatchResult, SyncInputError
from sync.backfill import stagger, throttle_countdown
from sync.celery_app import make_celery, transient_retry
from sync.event_task import register_event_tasks
from sync.page_store import TRANSIENT_STORE_ERRORS, store_for
from sync.settings import SyncSettings
from sync.task_names import (
    APPLY_BACKFILL_BATCH,
    APPLY_BACKFILL_COPY,
    APPLY_EVENT,
    APPLY_EVENTS,
    BACKFILL_PAGE,
    OPEN_BACKFILL_RANGES,
)

logger = logging.getLogger(__name__)

app = make_celery("inventory")


#: Apply outbox events of a product or a reservation, one or several per message
#: (``sync.event_task``).
tasks = register_event_tasks(
    app,
    event_task=APPLY_EVENT,
    batch_task=APPLY_EVENTS,
    apply=owner.apply_event,
    apply_many=owner.apply_events,
    park=dead_letters.park_event,
    logger=logger,
)


@dataclass(frozen=True)
class _Chain:
    """What a backfill page needs to ask for the next one."""

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
        waits on the checkpoint's lock (``extracted.inventory.sync.apply_checkpointed``).
        ``countdown``: when to ask (default: the throttle's spacing)."""
        if self.done:
            return
        if countdown is None:
            countdown = throttle_countdown(self.page_size, self.rows_per_s, self.read_at)
        app.send_task(
            BACKFILL_PAGE,
            kwargs={
                "job": self.job,
                "aggregate_type": self.aggregate_type,
                "after_key": self.last_key,
                "page_size": self.page_size,
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


@app.task(name=APPLY_BACKFILL_BATCH, **transient_retry(*TRANSIENT_DB_ERRORS))
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
    transaction (``extracted.inventory.sync.apply_backfill_batch``). A page it drops (a copy from
    an older run still in flight after a crash) ends its chain here, so only the chain whose
    pages are taken goes on, and a resume redoes at most the page that was in flight.
    """
    chain = _Chain(
        job, aggregate_type, last_key, done, page_size, "json", rows_per_s, read_at, end_key
    )
    try:
        result = owner.apply_backfill_batch(
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


@app.task(
    name=APPLY_BACKFILL_COPY, **transient_retry(*TRANSIENT_DB_ERRORS, *TRANSIENT_STORE_ERRORS)
)
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
    """The bulk path of ``apply_backfill_batch``: a products page as COPY text, applied by the
    owner with COPY (``extracted.inventory.bulk_load``). The page comes in the message
    (``page``) or, with a Redis broker, as the key of its bytes beside it (``page_ref``,
    sync.page_store), deleted once the page is applied or dropped."""
    if aggregate_type != "product":
        logger.error("backfill %s: a COPY page of %r refused (products only)", job, aggregate_type)
        return 0
    chain = _Chain(
        job, aggregate_type, last_key, done, page_size, "copy", rows_per_s, read_at, end_key
    )
    store = store_for(SyncSettings()) if page_ref is not None else None
    content: str | bytes | None = page
    if page_ref is not None:
        content = store.get(page_ref) if store is not None else None
        if content is None:
            # Expired, or deleted after this message was handled once (a crash before its
            # ack): ask for the page again; the checkpoint takes or drops that copy.
            logger.warning("backfill %s: the page after %r is gone; asking again", job, after_key)
            app.send_task(
                BACKFILL_PAGE,
                kwargs={
                    "job": job,
                    "aggregate_type": aggregate_type,
                    "after_key": after_key,
                    "page_size": page_size,
                    "restart": restart,
                    "wire": "copy",
                    "rows_per_s": rows_per_s,
                    **({"end_key": end_key} if end_key is not None else {}),
                },
            )
            return 0
    if content is None:
        logger.error("backfill %s: a COPY page after %r without a page refused", job, after_key)
        return 0
    try:
        result = bulk_load.apply_products_copy(
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


@app.task(name=OPEN_BACKFILL_RANGES, **transient_retry(*TRANSIENT_DB_ERRORS))
def open_backfill_ranges(
    job: str,
    aggregate_type: str,
    ends: list[str],
    page_size: int,
    wire: str = "copy",
    rows_per_s: float | None = None,
) -> int:
    """Open the ranges the monolith split ``job`` into (``extracted.inventory.sync
    .open_backfill_ranges``: one checkpoint each, replacing what the job had), then start one
    chain per range. The throttle is the job's: each chain gets its share, and the chains start
    a page's share of time apart (``sync.backfill.stagger``).

    Opening commits before any chain starts, so a crash in between leaves ranges at their start
    for a resume; a redelivered message opens them again (the chains already running find
    their checkpoints moved and stop: rows are copied again, none is lost)."""
    try:
        ranges = owner.open_backfill_ranges(job=job, ends=ends)
    except SyncInputError as err:
        logger.error("backfill %s: ranges refused: %s", job, err)
        return 0
    share = rows_per_s / len(ranges) if rows_per_s else None
    for number, checkpoint in enumerate(ranges):
        _Chain(
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
