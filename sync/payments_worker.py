"""The payments side of sync: ``celery -A sync.payments_worker worker`` (``worker-payments``).

It consumes the ``<prefix>payments`` queue and writes the payments service's database only,
through the service's own functions (``extracted.payments.sync``): outbox events of a payment, one
or several per message, and backfill pages of the monolith's payments (``sync.owner_worker``). It
never imports the monolith nor another service (.importlinter checks it).
"""

from __future__ import annotations

from extracted.payments import sync as owner
from sync.owner_worker import owner_worker

worker = owner_worker("payments", owner, copy_aggregate="payment")
app = worker.app
