"""Copy the monolith's inventory rows into the service's database, as the backfill would.

``python -m tests.parity.copy_rows`` with ``DATABASE_URL`` (the monolith's database) and
``INVENTORY_DATABASE_URL`` (the service's). It pages through
``monolith.inventory.selectors.product_states_after`` / ``reservation_states_after`` and hands
each page to ``extracted.inventory.sync.apply_backfill_batch`` — the functions the Celery backfill
tasks call — so the parity suite does not depend on a broker and workers. It runs as its own
process because it needs Django configured for *that* monolith database, which the pytest
process (pytest-django, its own test database) is not.

Jobs are named like the real backfill's (``products``, ``reservations``), so the service's
``/internal/sync/stats`` reports them done afterwards. The outbox is then relayed into the
service's ``apply_event`` (the relay's own ``relay_batch``), so the monolith has no backlog.

Prints one JSON object: ``{"products": n, "reservations": [{"id", "order_id", "status"}, ...]}``.

``python -m tests.parity.copy_rows --drift SKU`` instead makes the service's copy of one product
differ (a newer version with another price), the way a sync bug would: the service's own
``apply_backfill_batch`` writes it, and the monolith is untouched.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import Any

PAGE_SIZE = 200


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "monolith.settings")
    import django

    django.setup()
    from extracted.inventory.sync import apply_backfill_batch, apply_event
    from monolith.inventory.selectors import product_states_after, reservation_states_after
    from monolith.outbox.relay import relay_batch

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
            result = apply_backfill_batch(
                job=job,
                aggregate_type=aggregate_type,
                rows=rows,
                after_key=after,
                last_key=last,
                done=done,
                restart=after is None,
            )
            if not result.taken:
                raise RuntimeError(f"{job}: the page after {after!r} was not taken")
            copied.extend(rows)
            if done:
                return copied
            after = last

    if len(sys.argv) == 3 and sys.argv[1] == "--drift":
        sku = sys.argv[2]
        (row,) = [r for r in product_states_after(after_key=None, limit=10_000) if r["sku"] == sku]
        drifted = {**row, "price": "0.01", "version": row["version"] + 1}
        apply_backfill_batch(
            job="drift",
            aggregate_type="product",
            rows=[drifted],
            after_key=None,
            last_key=sku,
            done=True,
            restart=True,
        )
        print(json.dumps({"drifted": sku}))
        return

    products = copy("products", "product", product_states_after, "sku")
    reservations = copy("reservations", "reservation", reservation_states_after, "id")

    # Then the outbox, relayed straight into the service's apply_event (what the relay task and
    # the inventory worker do over the broker): events older than the copied rows are skipped as
    # stale, and the monolith's backlog ends empty.
    def publish(envelope: dict[str, Any]) -> None:
        apply_event(envelope)

    relayed = 0
    while batch := relay_batch(publish, limit=500):
        relayed += batch
    summary = {
        "products": len(products),
        "events_relayed": relayed,
        "reservations": [
            {"id": str(r["id"]), "order_id": str(r["order_id"]), "status": r["status"]}
            for r in reservations
        ],
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
