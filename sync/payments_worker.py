"""The payments side of sync: ``celery -A sync.payments_worker worker`` (``worker-payments``).

It consumes the ``<prefix>payments`` queue and writes the payments service's database only,
through the service's own functions (``extracted.payments.sync``); it never imports the monolith nor
another service (.importlinter checks it).
"""

from __future__ import annotations

import logging

from extracted.chassis.sync.dead_letters import TRANSIENT_DB_ERRORS
from extracted.payments import sync as owner
from sync.backfill_tasks import register_backfill_tasks
from sync.celery_app import make_celery
from sync.event_task import register_event_tasks

logger = logging.getLogger(__name__)

app = make_celery("payments")

#: Apply outbox events of a payment, one or several per message (``sync.event_task``).
tasks = register_event_tasks(
    app,
    side="payments",
    apply=owner.apply_event,
    apply_many=owner.apply_events,
    park=owner.park_event,
    transient=TRANSIENT_DB_ERRORS,
    logger=logger,
)

#: Backfill pages of the monolith's payments (COPY text, the bulk path, or state dicts) and the
#: opening of a split job's key ranges (``sync.backfill_tasks``).
backfill_tasks = register_backfill_tasks(
    app,
    capability="payments",
    apply_batch=owner.apply_backfill_batch,
    apply_copy=owner.apply_backfill_copy,
    copy_aggregate="payment",
    open_ranges=owner.open_backfill_ranges,
)
