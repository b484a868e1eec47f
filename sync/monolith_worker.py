"""The monolith side of sync: ``celery -A sync.monolith_worker worker``.

It works on the monolith's database only: the on-demand relay pass (``sync.outbox_relay``, which
the relay process ``sync.relay`` runs continuously) publishes pending events to each
capability's queue, the backfill reader turns one keyset page of rows into a batch for the job's
owner (the inventory, payments or orders side), and reverse sync's subscriber (``apply_events``,
several per message; ``apply_event``, one) applies the services' own events to the monolith's
tables. All send by task name (sync.task_names), never importing another side.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Final

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "monolith.settings")
# Celery's Django fix-up runs Django's system checks when the worker starts, and the URL checks
# import the URLconf: every view, DRF and the admin (some 45 MiB) in a process that serves no
# request. `migrate` runs the same checks before any worker starts (`strangler up`, compose).
os.environ.setdefault("CELERY_SKIP_CHECKS", "1")
django.setup()

from typing import Any  # noqa: E402

from django.db import InterfaceError, OperationalError  # noqa: E402

from contracts.backfill import (  # noqa: E402
    CopyPage,
    OpenRanges,
    PageRequest,
    SplitRequest,
    StatePage,
)
from contracts.reconcile import BoundsRequest  # noqa: E402
from monolith.inventory import reconcile as product_keys  # noqa: E402
from monolith.inventory.bulk_read import product_page_copy_bytes  # noqa: E402
from monolith.inventory.selectors import (  # noqa: E402
    product_states_after,
    reservation_states_after,
)
from monolith.orders.bulk_read import ORDERS, order_page_copy_bytes  # noqa: E402
from monolith.orders.selectors import order_states_after  # noqa: E402
from monolith.payments.bulk_read import PAYMENTS, payment_page_copy_bytes  # noqa: E402
from monolith.payments.selectors import payment_states_after  # noqa: E402
from monolith.reverse_sync import dead_letters, inbox  # noqa: E402
from protocol.copy_text import count_rows, first_field_of_last_line, split_page  # noqa: E402
from sync.backfill_jobs import job_for_aggregate  # noqa: E402
from sync.celery_app import make_celery, transient_retry  # noqa: E402
from sync.event_task import register_event_tasks  # noqa: E402
from sync.outbox_relay import BATCH as RELAY_BATCH  # noqa: E402
from sync.outbox_relay import drain  # noqa: E402
from sync.page_store import store_for, transient_store_errors  # noqa: E402
from sync.settings import SyncSettings  # noqa: E402
from sync.task_names import BACKFILL_PAGE, BACKFILL_SPLIT, RELAY_OUTBOX  # noqa: E402

logger = logging.getLogger(__name__)

app = make_celery("monolith")

#: What a page carries of the request it answers (``contracts.backfill.Page``).
_ANSWERED_FIELDS: Final = frozenset(
    {"job", "aggregate_type", "page_size", "after_key", "restart", "rows_per_s", "end_key"}
)

#: How a page of each aggregate is read as state dicts (``--wire json``) ...
_READERS = {
    "product": product_states_after,
    "reservation": reservation_states_after,
    "payment": payment_states_after,
    "order": order_states_after,
}

#: ... and as COPY text (the bulk path; reservations have none: they travel as state dicts).
_COPY_READERS = {
    "product": product_page_copy_bytes,
    "payment": payment_page_copy_bytes,
    "order": order_page_copy_bytes,
}


def _product_range_ends(parts: int) -> list[str]:
    """Keys that split the products into ``parts`` runs of about equal size: the bounds the
    reconciliation splits by (a ``TABLESAMPLE`` of a large table, exact counts of a small one);
    fewer when there are fewer products."""
    if parts < 2:
        return []
    return product_keys.bounds(BoundsRequest(parts=parts)).bounds


#: How each aggregate's keys are split into backfill ranges; an aggregate not named here is
#: backfilled in one range. Payments and orders: the ids at equal steps of one pass over them
#: (``monolith.copy_pages.KeysetPage.range_ends``).
_RANGE_ENDS = {
    "product": _product_range_ends,
    "payment": PAYMENTS.range_ends,
    "order": ORDERS.range_ends,
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


#: Reverse sync: the services' own events, several per message (what ``sync.service_relay``
#: sends) or one (sent by hand, and messages queued before batches), applied to the monolith's
#: tables by ``monolith.reverse_sync.inbox`` (dedup by event id, compare-and-set on version, no
#: outbox event recorded, so nothing loops). Poison events are parked as dead letters
#: (`strangler sync dead-letters --owner monolith`), as on every side (``sync.event_task``).
tasks = register_event_tasks(
    app,
    side="monolith",
    apply=inbox.apply_event,
    apply_many=inbox.apply_events,
    park=dead_letters.park,
    transient=dead_letters.TRANSIENT_DB_ERRORS,
    logger=logger,
)


@app.task(
    name=BACKFILL_PAGE,
    **transient_retry(OperationalError, InterfaceError, *transient_store_errors(SyncSettings())),
)
def backfill_page(**fields: Any) -> int:
    """Read the keyset page a ``contracts.backfill.PageRequest`` names and send it to the job's
    owner (the side of the capability that owns the aggregate: sync.backfill_jobs) as one batch.

    The owner applies it with its checkpoint in one transaction and then asks for the next page
    (``after_key`` = this page's last key); a short page is the last one. ``restart`` marks the
    first page of a backfill started over (the owner then takes it whatever its checkpoint
    says). ``wire``: ``copy`` sends a page as COPY text (the bulk path, protocol.copy_text:
    products; payments and orders with their child rows after the page's rows), ``json`` as a
    list of state dicts (reservations always travel so). ``rows_per_s`` (the throttle) travels
    along the chain; the owner spaces the next page request by it. ``end_key``: the page is of a
    range of a split job (``backfill_split``) that ends there (inclusive); the page stops there
    and the range is done when it is reached (the readers of state dicts know no end: a range's
    last page reads past it once, and keeps what is within).
    """
    request = PageRequest.model_validate(fields)
    after_key, page_size, end_key = request.after_key, request.page_size, request.end_key
    read_at = time.time()
    answer = request.model_dump(include=set(_ANSWERED_FIELDS)) | {"read_at": read_at}
    spec = job_for_aggregate(request.aggregate_type)
    read_copy = _COPY_READERS.get(request.aggregate_type) if request.wire == "copy" else None
    if read_copy is not None:
        data = read_copy(after_key=after_key, limit=page_size, end_key=end_key)
        rows_text = split_page(data)[0]
        count = count_rows(rows_text)
        last_line = rows_text[rows_text.rfind(b"\n", 0, len(rows_text) - 1) + 1 :].decode()
        last_key = first_field_of_last_line(last_line) if count else after_key
        # With a Redis broker the page waits beside the message as bytes (sync.page_store).
        store = store_for(SyncSettings())
        body = {"page_ref": store.put(data)} if store else {"page": data.decode()}
        copy_page = CopyPage.model_validate(
            {**answer, **body, "last_key": last_key, "done": count < page_size}
        )
        app.send_task(spec.copy_task, kwargs=copy_page.as_kwargs())
        return count
    key_of = spec.key_of
    rows = _READERS[request.aggregate_type](after_key=after_key, limit=page_size)
    full = len(rows) == page_size
    if end_key is not None:
        # The readers know no end; the keys compare in Python as the "C" collation orders them.
        within = [row for row in rows if key_of(row) <= end_key]
        full = full and len(within) == len(rows)
        rows = within
    last_key = key_of(rows[-1]) if rows else after_key
    state_page = StatePage.model_validate(
        {**answer, "rows": rows, "last_key": last_key, "done": not full}
    )
    app.send_task(spec.batch_task, kwargs=state_page.as_kwargs())
    return len(rows)


@app.task(name=BACKFILL_SPLIT, **transient_retry(OperationalError, InterfaceError))
def backfill_split(**fields: Any) -> int:
    """Start (or restart) a job as key ranges read and written side by side
    (``contracts.backfill.SplitRequest``): pick the ranges' ends from this side's keys and ask
    the job's owner to open them (``contracts.backfill.OpenRanges``: one checkpoint each) and
    start a chain of ``backfill_page`` per range. An aggregate with no splitter, or too few
    rows, gets fewer ranges (one at least). Returns how many."""
    request = SplitRequest.model_validate(fields)
    split = _RANGE_ENDS.get(request.aggregate_type)
    ends = split(request.parallel) if split is not None else []
    opening = OpenRanges(
        job=request.job,
        aggregate_type=request.aggregate_type,
        ends=ends,
        page_size=request.page_size,
        wire=request.wire,
        rows_per_s=request.rows_per_s,
    )
    app.send_task(job_for_aggregate(request.aggregate_type).ranges_task, kwargs=opening.as_kwargs())
    return len(ends) + 1
