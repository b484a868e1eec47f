"""The payments side of sync: ``celery -A sync.payments_worker worker`` (``worker-payments``).

It consumes the ``<prefix>payments`` queue and writes the payments service's database only,
through the service's own functions (``extracted.payments.sync``); it never imports the monolith nor
another service (.importlinter checks it).
"""

from __future__ import annotations

import logging

from extracted.payments import dead_letters
from extracted.payments import sync as owner
from sync.celery_app import make_celery
from sync.event_task import register_apply_event
from sync.task_names import PAYMENTS_APPLY_EVENT

logger = logging.getLogger(__name__)

app = make_celery("payments")

#: Apply one outbox event of a payment (``sync.event_task``).
apply_event = register_apply_event(
    app,
    PAYMENTS_APPLY_EVENT,
    apply=owner.apply_event,
    park=dead_letters.park_event,
    logger=logger,
)
