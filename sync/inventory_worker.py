"""The inventory side of sync: ``celery -A sync.inventory_worker worker``.

It writes the inventory service's database only, through the service's own functions
(``extracted.inventory.sync``); it never imports the monolith (.importlinter checks it).
"""

from __future__ import annotations

import logging
from typing import Any

from extracted.chassis.dead_letters import TRANSIENT_DB_ERRORS
from extracted.inventory import dead_letters
from extracted.inventory import sync as owner
from extracted.inventory.sync import SyncInputError
from sync.celery_app import make_celery, transient_retry
from sync.task_names import APPLY_BACKFILL_BATCH, APPLY_EVENT, BACKFILL_PAGE

logger = logging.getLogger(__name__)

app = make_celery("inventory")


@app.task(name=APPLY_EVENT, **transient_retry(*TRANSIENT_DB_ERRORS))
def apply_event(envelope: Any) -> str:
    """Apply one outbox event (dedup by event id, compare-and-set on version).

    A transient database error propagates and is retried (``transient_retry``). Any other
    failure (the envelope does not fit the contract, applying it breaks a constraint) cannot be
    fixed by retrying: the event is parked as a dead letter with the error, and the queue moves
    on (`strangler sync dead-letters` lists and replays them).
    """
    try:
        outcome: str = owner.apply_event(envelope)
    except TRANSIENT_DB_ERRORS:
        raise
    except Exception as err:
        event_id = envelope.get("event_id") if isinstance(envelope, dict) else None
        letter = dead_letters.park_event(envelope, err)
        logger.error("poison event %s parked as dead letter %d: %s", event_id, letter, err)
        return "dead-lettered"
    logger.debug("event %s: %s", envelope.get("event_id"), outcome)
    return outcome


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
) -> int:
    """Hand one backfill page to the owner, then ask for the next one.

    The owner takes the page only when its checkpoint stands where the page starts
    (``after_key``) or the page opens a restarted backfill, deciding and applying in one
    transaction (``extracted.inventory.sync.apply_backfill_batch``). A page it drops (a copy from
    an older run still in flight after a crash) ends its chain here, so only the chain whose
    pages are taken goes on, and a resume redoes at most the page that was in flight.
    """
    try:
        result = owner.apply_backfill_batch(
            job=job,
            aggregate_type=aggregate_type,
            rows=rows,
            after_key=after_key,
            last_key=last_key,
            done=done,
            restart=restart,
        )
    except SyncInputError as err:
        logger.error("backfill %s: poison batch after %r refused: %s", job, after_key, err)
        return 0
    if not result.taken:
        logger.info(
            "backfill %s: dropped the batch after %r, the checkpoint is at %r%s",
            job,
            after_key,
            result.checkpoint.last_key,
            " (done)" if result.checkpoint.done else "",
        )
        return 0
    if done:
        logger.info("backfill %s: done (last key %r)", job, last_key)
    else:
        # After the commit: the next page reads after this one's last key.
        app.send_task(
            BACKFILL_PAGE,
            kwargs={
                "job": job,
                "aggregate_type": aggregate_type,
                "after_key": last_key,
                "page_size": page_size,
            },
        )
    return result.written
