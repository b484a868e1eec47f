"""The canonical text of a reconciled field and a row's hash, which both owners compute
identically for the range checksums of reconciliation (messages: contracts.reconcile).

Each side computes checksums **in its own database**, so both must turn a row into the same
text whatever their storage types. Which fields a row has, in which order and of which kind, is
the aggregate's spec (protocol.reconcile_spec); the scalar forms are here:

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
connection (protocol.reconcile_sql).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Final

SEPARATOR: Final = "\x1f"


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
