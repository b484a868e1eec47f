"""The inventory side of sync: ``celery -A sync.inventory_worker worker``.

It writes the inventory service's database only, through the service's own functions
(``extracted.inventory.sync``); it never imports the monolith (.importlinter checks it).
"""

from __future__ import annotations

import logging

from extracted.chassis.dead_letters import TRANSIENT_DB_ERRORS
from extracted.inventory import bulk_load, dead_letters
from extracted.inventory import sync as owner
from extracted.inventory.sync import SyncInputError
from sync.backfill_tasks import Chain, register_backfill_tasks
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


#: Backfill pages of state dicts (reservations; products with ``--wire json``) and the opening
#: of a split job's ranges (``sync.backfill_tasks``).
backfill_tasks = register_backfill_tasks(
    app,
    batch_task=APPLY_BACKFILL_BATCH,
    ranges_task=OPEN_BACKFILL_RANGES,
    apply_batch=owner.apply_backfill_batch,
    open_ranges=owner.open_backfill_ranges,
)


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
    chain = Chain(
        app, job, aggregate_type, last_key, done, page_size, "copy", rows_per_s, read_at, end_key
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
