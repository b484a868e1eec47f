"""The inventory side of sync: ``celery -A sync.inventory_worker worker``.

It writes the inventory service's database only, through the service's own functions
(``extracted.inventory.sync``); it never imports the monolith (.importlinter checks it).
"""

from __future__ import annotations

import logging

from extracted.chassis.sync.dead_letters import TRANSIENT_DB_ERRORS
from extracted.inventory import sync as owner
from sync.backfill_tasks import register_backfill_tasks
from sync.celery_app import make_celery
from sync.event_task import register_event_tasks

logger = logging.getLogger(__name__)

app = make_celery("inventory")


#: Apply outbox events of a product or a reservation, one or several per message
#: (``sync.event_task``).
tasks = register_event_tasks(
    app,
    side="inventory",
    apply=owner.apply_event,
    apply_many=owner.apply_events,
    park=owner.park_event,
    transient=TRANSIENT_DB_ERRORS,
    logger=logger,
)


#: Backfill pages: products as COPY text (the bulk path, ``extracted.inventory.sync``),
#: state dicts (reservations; products with ``--wire json``), and the opening of a split job's
#: ranges (``sync.backfill_tasks``).
backfill_tasks = register_backfill_tasks(
    app,
    capability="inventory",
    apply_batch=owner.apply_backfill_batch,
    apply_copy=owner.apply_backfill_copy,
    copy_aggregate="product",
    open_ranges=owner.open_backfill_ranges,
)
