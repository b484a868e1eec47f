"""The orders side of sync: ``celery -A sync.orders_worker worker`` (``worker-orders``).

It consumes the ``<prefix>orders`` queue and writes the orders service's database only, through
the service's own functions (``extracted.orders.sync``): outbox events of an order, one or several
per message, and backfill pages of the monolith's orders (``sync.owner_worker``). It never imports
the monolith nor another service (.importlinter checks it).
"""

from __future__ import annotations

from extracted.orders import sync as owner
from sync.owner_worker import owner_worker

worker = owner_worker("orders", owner, copy_aggregate="order")
app = worker.app
