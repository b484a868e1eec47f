"""Copy the monolith's inventory rows into the service's database, as the backfill would.

``python -m tests.parity.copy_rows`` with ``DATABASE_URL`` (the monolith's database) and
``INVENTORY_DATABASE_URL`` (the service's). It pages through
``monolith.inventory.selectors.product_states_after`` / ``reservation_states_after`` and hands
each page to ``extracted.inventory.sync.apply_backfill_batch`` — the functions the Celery backfill
tasks call — so the parity suite does not depend on a broker and workers. It runs as its own
process because it needs Django configured for *that* monolith database, which the pytest
process (pytest-django, its own test database) is not.

Prints one JSON object: ``{"products": n, "reservations": [{"id", "order_id", "status"}, ...]}``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

PAGE_SIZE = 200


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "monolith.settings")
    import django

    django.setup()
    from extracted.inventory.sync import apply_backfill_batch
    from monolith.inventory.selectors import product_states_after, reservation_states_after

    def copy(
        job: str,
        aggregate_type: str,
        read: Callable[..., list[dict[str, Any]]],
        key: str,
    ) -> list[dict[str, Any]]:
        copied: list[dict[str, Any]] = []
        after: str | None = None
        while True:
            rows = read(after_key=after, limit=PAGE_SIZE)
            last = str(rows[-1][key]) if rows else after
            done = len(rows) < PAGE_SIZE
            apply_backfill_batch(
                job=job, aggregate_type=aggregate_type, rows=rows, last_key=last, done=done
            )
            copied.extend(rows)
            if done:
                return copied
            after = last

    products = copy("parity-products", "product", product_states_after, "sku")
    reservations = copy("parity-reservations", "reservation", reservation_states_after, "id")
    summary = {
        "products": len(products),
        "reservations": [
            {"id": str(r["id"]), "order_id": str(r["order_id"]), "status": r["status"]}
            for r in reservations
        ],
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
