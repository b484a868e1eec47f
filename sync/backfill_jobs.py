"""Backfill jobs: one per aggregate, named after it, and the key its keyset pages follow."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Protocol


@dataclass(frozen=True)
class BackfillJob:
    #: The checkpoint's name in the service (``products``, ``reservations``).
    name: str
    #: ``contracts.events.AggregateType`` of the rows.
    aggregate_type: str
    #: The field of a state row that the keyset pages are ordered by.
    key_field: str

    def key_of(self, row: dict[str, object]) -> str:
        return str(row[self.key_field])


JOBS: Final[dict[str, BackfillJob]] = {
    "products": BackfillJob("products", "product", "sku"),
    "reservations": BackfillJob("reservations", "reservation", "id"),
}


def job_for_aggregate(aggregate_type: str) -> BackfillJob:
    for job in JOBS.values():
        if job.aggregate_type == aggregate_type:
            return job
    raise ValueError(f"no backfill job for aggregate type {aggregate_type!r}")


class CheckpointLike(Protocol):
    @property
    def last_key(self) -> str | None: ...
    @property
    def done(self) -> bool: ...


def takes_batch(checkpoint: CheckpointLike | None, after_key: str | None) -> bool:
    """Whether a batch that starts after ``after_key`` is the next one for this checkpoint
    (the inventory worker drops any other: a copy from an older run, or one after the end)."""
    if checkpoint is None:
        return after_key is None
    return not checkpoint.done and checkpoint.last_key == after_key
