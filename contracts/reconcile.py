"""Reconciliation's wire format: the canonical text of a field, a row's hash, and the messages of
the range-checksum endpoints both owners answer (``/internal/reconcile/<aggregate>/...``).

Each side computes checksums **in its own database**, so both must turn a row into the same
text whatever their storage types. Which fields a row has, in which order and of which kind, is
the aggregate's spec (contracts.reconcile_spec); the scalar forms are here:

* fields joined by ``SEPARATOR`` (a control character no field holds);
* decimals with exactly the spec's places (``12.5``, ``12.50`` and ``12.500`` are one value);
* timestamps in UTC as PostgreSQL writes a ``timestamp`` (``2026-11-25 14:07:34.12``: microsecond
  precision, trailing zeros of the fraction dropped, no fraction when it is zero), whatever
  precision, zone or text form a database hands back (Django's SQLite text omits a zero
  fraction; SQLAlchemy's always writes six digits). That form, not ``to_char``, because
  PostgreSQL's timestamp output is about twice as fast as ``to_char`` over a million rows;
* integers in decimal.

A row's hash is the first 8 bytes of the MD5 of that text as a signed 64-bit integer, and a range's
checksum is the exact sum of its rows' hashes (as decimal text) with the row count: order does not
matter, and PostgreSQL computes it with ``md5`` and ``numeric`` sums. Keys compare in byte order
(``COLLATE "C"`` on PostgreSQL, ``BINARY`` on SQLite, Python ``str`` order; a uuid key in its
canonical text, which sorts as its bytes do).

PostgreSQL computes all of this in SQL (the spec's expressions, ``pg_row_hash``); SQLite, which
has neither ``md5`` nor a 64-bit-safe sum, gets the Python functions registered on its
connection (contracts.reconcile_sql).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from itertools import pairwise
from typing import Final

from pydantic import BaseModel, ConfigDict, Field

SEPARATOR: Final = "\x1f"
#: Most key ranges one request may ask checksums of, and most rows one rows request returns.
MAX_BOUNDS: Final = 1024
MAX_ROWS: Final = 5000


def canonical_timestamp(value: datetime | str) -> str:
    """UTC as PostgreSQL's ``timestamp`` text. Text input is parsed as ISO 8601 (a naive value
    is UTC, as SQLite stores it)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    utc = value.astimezone(UTC)
    text = utc.strftime("%Y-%m-%d %H:%M:%S")
    if utc.microsecond:
        text += "." + f"{utc.microsecond:06d}".rstrip("0")
    return text


def canonical_decimal(value: object, scale: int) -> str:
    """Exactly ``scale`` places, rounded half away from zero as PostgreSQL's ``round`` does.
    Floats (SQLite's NUMERIC affinity stores ``12.50`` as REAL 12.5) go through their shortest
    repr, which is exact for values of this scale."""
    quantum = Decimal(1).scaleb(-scale)
    return f"{Decimal(str(value)).quantize(quantum, rounding=ROUND_HALF_UP):f}"


def row_hash(text: str) -> int:
    return int.from_bytes(hashlib.md5(text.encode()).digest()[:8], "big", signed=True)


def pg_row_hash(text_sql: str) -> str:
    """``row_hash`` as a PostgreSQL expression over a text expression."""
    return f"('x' || substr(md5({text_sql}), 1, 16))::bit(64)::bigint"


class SumOfHashes:
    """A SQLite aggregate: the exact sum of 64-bit hashes as decimal text (SQLite's own ``sum``
    raises on 64-bit overflow and ``total`` is a float)."""

    def __init__(self) -> None:
        self.total = 0

    def step(self, value: int | None) -> None:
        if value is not None:
            self.total += value

    def finalize(self) -> str:
        return str(self.total)


# --- messages ------------------------------------------------------------------------------


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


def check_sorted(bounds: list[str], lo: str | None, hi: str | None) -> None:
    """``bounds`` strictly increasing and inside ``[lo, hi)``; ValueError otherwise."""
    for before, after in pairwise(bounds):
        if not before < after:
            raise ValueError(f"bounds must be strictly increasing: {before!r} >= {after!r}")
    if bounds and lo is not None and bounds[0] <= lo:
        raise ValueError(f"bound {bounds[0]!r} is not above lo {lo!r}")
    if bounds and hi is not None and bounds[-1] >= hi:
        raise ValueError(f"bound {bounds[-1]!r} is not below hi {hi!r}")


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
