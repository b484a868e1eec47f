"""The monolith side of sync: ``celery -A sync.monolith_worker worker``.

It works on the monolith's database only: the on-demand relay pass (the relay process,
``sync.relay``, does the continuous work) publishes pending events to the inventory queue, the
backfill reader turns one keyset page of rows into a batch for the inventory side, and reverse
sync's subscriber (``apply_event``) applies the services' own events to the monolith's tables. All
send by task name (sync.task_names), never importing the inventory side.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Final

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "monolith.settings")
django.setup()

from typing import Any  # noqa: E402

from django.db import InterfaceError, OperationalError  # noqa: E402

from contracts.copy_text import count_rows, first_field_of_last_line  # noqa: E402
from monolith.inventory.bulk_read import product_page_copy_text  # noqa: E402
from monolith.inventory.selectors import (  # noqa: E402
    product_states_after,
    reservation_states_after,
)
from monolith.reverse_sync import dead_letters, inbox  # noqa: E402
from sync.backfill_jobs import job_for_aggregate  # noqa: E402
from sync.celery_app import make_celery, transient_retry  # noqa: E402
from sync.relay import BATCH as RELAY_BATCH  # noqa: E402
from sync.relay import drain  # noqa: E402
from sync.task_names import (  # noqa: E402
    APPLY_BACKFILL_BATCH,
    APPLY_BACKFILL_COPY,
    BACKFILL_PAGE,
    MONOLITH_APPLY_EVENT,
    RELAY_OUTBOX,
)

logger = logging.getLogger(__name__)

app = make_celery("monolith")

#: How a backfill page travels (see backfill_page).
WIRES: Final = ("copy", "json")

_READERS = {
    "product": product_states_after,
    "reservation": reservation_states_after,
}


@app.task(name=RELAY_OUTBOX, default_retry_delay=1)
def relay_outbox(limit: int = RELAY_BATCH) -> int:
    """One relay pass on demand (`strangler sync relay`): publish every pending event. The relay
    process (``sync.relay``) does the same on each notification; both may run at once (rows are
    locked with SKIP LOCKED). No retry: a refused broker leaves the events pending for the next
    pass."""
    total = drain(app, limit=limit)
    if total:
        logger.info("relay published %d outbox event(s)", total)
    return total


@app.task(name=MONOLITH_APPLY_EVENT, **transient_retry(*dead_letters.TRANSIENT_DB_ERRORS))
def apply_event(envelope: Any) -> str:
    """Reverse sync: apply one event of a service's own outbox to the monolith's tables
    (``monolith.reverse_sync.inbox``: dedup by event id, compare-and-set on version, no outbox
    event recorded, so nothing loops). A transient database error is retried; any other failure
    parks the event as a dead letter (`strangler sync dead-letters --owner monolith`)."""
    try:
        outcome: str = inbox.apply_event(envelope)
    except dead_letters.TRANSIENT_DB_ERRORS:
        raise
    except Exception as err:
        event_id = envelope.get("event_id") if isinstance(envelope, dict) else None
        letter = dead_letters.park(envelope, err)
        logger.error("poison event %s parked as dead letter %d: %s", event_id, letter, err)
        return "dead-lettered"
    return outcome


@app.task(name=BACKFILL_PAGE, **transient_retry(OperationalError, InterfaceError))
def backfill_page(
    job: str,
    aggregate_type: str,
    after_key: str | None,
    page_size: int,
    restart: bool = False,
    wire: str = "copy",
    rows_per_s: float | None = None,
) -> int:
    """Read the keyset page after ``after_key`` and send it to the inventory side as one batch.

    The inventory side applies it with its checkpoint in one transaction and then asks for the
    next page (``after_key`` = this page's last key); a short page is the last one. ``restart``
    marks the first page of a backfill started over (the inventory side then takes it whatever
    its checkpoint says). ``wire``: ``copy`` sends a products page as COPY text (the bulk path,
    contracts.copy_text), ``json`` as a list of state dicts (reservations always travel as
    JSON: their lines do not fit one table). ``rows_per_s`` (the throttle) travels along the
    chain; the inventory side spaces the next page request by it.
    """
    if page_size < 1:
        raise ValueError(f"page_size must be at least 1, got {page_size}")
    if wire not in WIRES:
        raise ValueError(f"wire must be one of {WIRES}, got {wire!r}")
    read_at = time.time()
    common = {
        "job": job,
        "aggregate_type": aggregate_type,
        "page_size": page_size,
        "after_key": after_key,
        "restart": restart,
        "rows_per_s": rows_per_s,
        "read_at": read_at,
    }
    if wire == "copy" and aggregate_type == "product":
        page = product_page_copy_text(after_key=after_key, limit=page_size)
        count = count_rows(page)
        last_key = first_field_of_last_line(page) if count else after_key
        app.send_task(
            APPLY_BACKFILL_COPY,
            kwargs={**common, "page": page, "last_key": last_key, "done": count < page_size},
        )
        return count
    rows = _READERS[aggregate_type](after_key=after_key, limit=page_size)
    last_key = job_for_aggregate(aggregate_type).key_of(rows[-1]) if rows else after_key
    app.send_task(
        APPLY_BACKFILL_BATCH,
        kwargs={**common, "rows": rows, "last_key": last_key, "done": len(rows) < page_size},
    )
    return len(rows)
