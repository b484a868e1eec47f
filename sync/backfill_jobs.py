"""Backfill jobs: one per aggregate, named after it, and the key its keyset pages follow."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class BackfillJob:
    #: The checkpoint's name in the service (``products``, ``reservations``).
    name: str
    #: ``contracts.events.AggregateType`` of the rows.
    aggregate_type: str
    #: The field of a state row that the keyset pages are ordered by.
    key_field: str
    #: Whether the monolith splits its keys into ranges (``sync.monolith_worker._RANGE_ENDS``)
    #: and the inventory side opens them, so ``--parallel`` runs a chain per range; other jobs
    #: run in one chain.
    splits: bool = False

    def key_of(self, row: dict[str, object]) -> str:
        return str(row[self.key_field])


JOBS: Final[dict[str, BackfillJob]] = {
    "products": BackfillJob("products", "product", "sku", splits=True),
    "reservations": BackfillJob("reservations", "reservation", "id"),
}


def job_for_aggregate(aggregate_type: str) -> BackfillJob:
    for job in JOBS.values():
        if job.aggregate_type == aggregate_type:
            return job
    raise ValueError(f"no backfill job for aggregate type {aggregate_type!r}")
