"""Backfill jobs: one per aggregate, named after it, owned by the capability whose service applies
its pages (and keeps its checkpoint), and the key its keyset pages follow."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from contracts.events import Capability
from sync.task_names import task_name


@dataclass(frozen=True)
class BackfillJob:
    #: The checkpoint's name in the owner (``products``, ``reservations``, ``payments``, ...).
    name: str
    #: ``contracts.events.AggregateType`` of the rows.
    aggregate_type: str
    #: The field of a state row that the keyset pages are ordered by.
    key_field: str
    #: The capability whose service applies the pages and keeps the checkpoint.
    capability: Capability
    #: Whether the monolith splits its keys into ranges (``sync.monolith_worker._RANGE_ENDS``)
    #: and the owner opens them, so ``--parallel`` runs a chain per range; other jobs run in
    #: one chain.
    splits: bool = False

    def key_of(self, row: dict[str, object]) -> str:
        return str(row[self.key_field])

    @property
    def batch_task(self) -> str:
        """The owner's task that applies a page of this job (state dicts)."""
        return task_name(self.capability, "apply_backfill_batch")

    @property
    def copy_task(self) -> str:
        """The owner's task that applies a page of this job as COPY text."""
        return task_name(self.capability, "apply_backfill_copy")

    @property
    def ranges_task(self) -> str:
        """The owner's task that opens this job's key ranges."""
        return task_name(self.capability, "open_backfill_ranges")


JOBS: Final[dict[str, BackfillJob]] = {
    "products": BackfillJob("products", "product", "sku", "inventory", splits=True),
    "reservations": BackfillJob("reservations", "reservation", "id", "inventory"),
    "payments": BackfillJob("payments", "payment", "id", "payments", splits=True),
    "orders": BackfillJob("orders", "order", "id", "orders", splits=True),
}


def job_for_aggregate(aggregate_type: str) -> BackfillJob:
    for job in JOBS.values():
        if job.aggregate_type == aggregate_type:
            return job
    raise ValueError(f"no backfill job for aggregate type {aggregate_type!r}")
