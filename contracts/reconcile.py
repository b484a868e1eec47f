"""Reconciliation's messages: what the range-checksum endpoints both owners answer
(``/internal/reconcile/<aggregate>/...``) take and give, the repair, and the report a run records.

How a row becomes the text that is hashed, and how both sides compute the checksums, is
``protocol.canonical``, ``protocol.reconcile_spec`` and ``protocol.reconcile_sql``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from pydantic import BaseModel, ConfigDict, Field

#: Most key ranges one request may ask checksums of, and most rows one rows request returns.
MAX_BOUNDS: Final = 1024
MAX_ROWS: Final = 5000


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class KeyRange(_Message):
    """Keys ``lo <= key < hi`` in byte order; None: unbounded on that side."""

    lo: str | None = None
    hi: str | None = None


class BoundsRequest(KeyRange):
    parts: int = Field(ge=2, le=MAX_BOUNDS)


class BoundsResponse(_Message):
    """Keys that split the range into about ``parts`` runs of (nearly) equal row counts;
    strictly increasing, inside the range; fewer when the range holds fewer rows. ``sampled``:
    chosen from a sample of a large table (runs only roughly equal) rather than by counting."""

    bounds: list[str]
    sampled: bool = False


class ChecksumsRequest(KeyRange):
    """Checksums of ``[lo, b1), [b1, b2), ..., [bn, hi)``."""

    bounds: list[str] = Field(default_factory=list, max_length=MAX_BOUNDS)


class RangeChecksum(_Message):
    count: int
    checksum: str


class ChecksumsResponse(_Message):
    ranges: list[RangeChecksum]


class RowsRequest(KeyRange):
    limit: int = Field(default=MAX_ROWS, ge=1, le=MAX_ROWS)


class CanonicalRow(_Message):
    key: str
    version: int
    text: str


class RowsResponse(_Message):
    rows: list[CanonicalRow]


class StatesRequest(_Message):
    keys: list[str] = Field(max_length=MAX_ROWS)


class RowDrift(_Message):
    key: str
    #: The fields whose canonical text differs.
    fields: list[str]
    source_version: int
    target_version: int


class ExtraRow(_Message):
    """A row the target holds and the source does not."""

    key: str
    target_version: int


class RepairRequest(_Message):
    """Sent by the driver to the owner (the target): the source's current state of the rows
    that drifted, with what reconciliation saw on the target (see the owner's repair)."""

    #: The aggregate's state dicts (``ProductState``, ``PaymentState``, ...) as the source holds
    #: them now.
    states: list[dict[str, object]] = Field(max_length=MAX_ROWS)
    #: key -> the version reconciliation saw on the target (None: the row was missing there).
    observed: dict[str, int | None] = Field(default_factory=dict)
    #: key -> the version of a row the target holds and the source does not (deleted if it is
    #: still that version).
    extra: dict[str, int] = Field(default_factory=dict)


class RepairResult(_Message):
    written: int
    deleted: int
    #: Rows left alone because the target moved on since reconciliation saw them (a live event
    #: brought a newer version: that event carries the source's state anyway).
    skipped: int


class DriftCounts(_Message):
    missing: int
    extra: int
    different: int


#: Rows of each kind a stored report keeps (the counts stay exact).
STORED_ROWS = 100


class ReconciliationReport(_Message):
    aggregate: str
    started_at: datetime
    finished_at: datetime
    source_rows: int
    target_rows: int
    missing: list[str]
    extra: list[ExtraRow]
    different: list[RowDrift]
    #: Checksum requests made (both sides), a measure of the bisection's work.
    requests: int
    repair: RepairResult | None = None
    #: After a repair: whether a second pass found the tables equal.
    clean_after_repair: bool | None = None
    #: Set when the lists were cut to STORED_ROWS (``for_record``): the full counts.
    counts: DriftCounts | None = None

    @property
    def drift_counts(self) -> DriftCounts:
        return self.counts or DriftCounts(
            missing=len(self.missing), extra=len(self.extra), different=len(self.different)
        )

    @property
    def drift(self) -> int:
        counts = self.drift_counts
        return counts.missing + counts.extra + counts.different

    def for_record(self) -> ReconciliationReport:
        """This report with its row lists cut to STORED_ROWS each and the full counts kept,
        so a run that found a million missing rows still fits one request and one row."""
        return self.model_copy(
            update={
                "counts": self.drift_counts,
                "missing": self.missing[:STORED_ROWS],
                "extra": self.extra[:STORED_ROWS],
                "different": self.different[:STORED_ROWS],
            }
        )

    @property
    def clean(self) -> bool:
        return self.drift == 0
