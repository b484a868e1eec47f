"""The inventory side of sync: ``celery -A sync.inventory_worker worker`` (``worker-inventory``).

It consumes the ``<prefix>inventory`` queue and writes the inventory service's database only,
through the service's own functions (``extracted.inventory.sync``): outbox events of a product or
a reservation, one or several per message, and backfill pages (products as COPY text, the bulk
path; reservations, and products with ``--wire json``, as state dicts; ``sync.owner_worker``). It
never imports the monolith nor another service (.importlinter checks it).
"""

from __future__ import annotations

from extracted.inventory import sync as owner
from sync.owner_worker import owner_worker

worker = owner_worker("inventory", owner, copy_aggregate="product")
app = worker.app
