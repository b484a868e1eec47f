"""The orders side of sync: ``celery -A sync.orders_worker worker`` (``worker-orders``).

It consumes the ``<prefix>orders`` queue and writes the orders service's database only,
through the service's own functions (``extracted.orders.sync``); it never imports the monolith nor
another service (.importlinter checks it).
"""

from __future__ import annotations

import logging

from extracted.orders import dead_letters
from extracted.orders import sync as owner
from sync.celery_app import make_celery
from sync.event_task import register_apply_event
from sync.task_names import ORDERS_APPLY_EVENT

logger = logging.getLogger(__name__)

app = make_celery("orders")

#: Apply one outbox event of a order (``sync.event_task``).
apply_event = register_apply_event(
    app,
    ORDERS_APPLY_EVENT,
    apply=owner.apply_event,
    park=dead_letters.park_event,
    logger=logger,
)
