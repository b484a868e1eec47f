"""The queries behind the reconciliation endpoints, shared text both owners run on **their own**
database connection (the monolith through Django's cursor, the service through SQLAlchemy).

They are the definition of a range checksum (contracts.reconcile), so both sides must run the
same ones; each side passes its table name and its driver's placeholder style. Only ``products``
(key ``sku``, byte-order collation on both sides) is reconciled so far.

PostgreSQL computes everything in SQL. SQLite gets the Python functions of contracts.reconcile
registered on the connection first (``register_sqlite_functions``).
"""

from __future__ import annotations

import sqlite3
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any, Literal

from contracts.reconcile import (
    PRODUCT_FIELDS,
    BoundsRequest,
    BoundsResponse,
    CanonicalRow,
    ChecksumsRequest,
    ChecksumsResponse,
    RangeChecksum,
    RowsRequest,
    RowsResponse,
    SumOfHashes,
    canonical_product,
    check_sorted,
    pg_product_text,
    pg_row_hash,
    row_hash,
)

Dialect = Literal["postgresql", "sqlite"]
#: Renders a named parameter in the driver's style: ``:name`` (SQLAlchemy) or ``%(name)s``.
Placeholder = Callable[[str], str]

KEY = "sku"


@dataclass(frozen=True)
class Query:
    sql: str
    params: dict[str, Any] = field(default_factory=dict)


def _where(lo: str | None, hi: str | None, ph: Placeholder) -> Query:
    """Keys in ``[lo, hi)``. The key column's own collation (``C`` / ``BINARY``) decides the
    comparison, so it is byte order and an index on the key serves it."""
    clauses: list[str] = []
    params: dict[str, Any] = {}
    if lo is not None:
        clauses.append(f"{KEY} >= {ph('lo')}")
        params["lo"] = lo
    if hi is not None:
        clauses.append(f"{KEY} < {ph('hi')}")
        params["hi"] = hi
    return Query(("WHERE " + " AND ".join(clauses)) if clauses else "", params)


def _text(dialect: Dialect) -> str:
    if dialect == "postgresql":
        return pg_product_text()
    return f"recon_product_text({', '.join(PRODUCT_FIELDS)})"


def _hash(dialect: Dialect) -> str:
    text = _text(dialect)
    return pg_row_hash(text) if dialect == "postgresql" else f"recon_hash({text})"


def count_query(table: str, lo: str | None, hi: str | None, ph: Placeholder) -> Query:
    where = _where(lo, hi, ph)
    return Query(f"SELECT count(*) FROM {table} {where.sql}", where.params)


def bounds_query(table: str, lo: str | None, hi: str | None, step: int, ph: Placeholder) -> Query:
    """The keys at rows ``step + 1``, ``2 * step + 1``, ... of the range (byte order): each is
    the first key of a run of ``step`` rows. Only keys are read (an index-only scan)."""
    if step < 1:
        raise ValueError(f"step must be at least 1, got {step}")
    where = _where(lo, hi, ph)
    sql = (
        f"SELECT {KEY} FROM (SELECT {KEY}, row_number() OVER (ORDER BY {KEY}) AS rn "
        f"FROM {table} {where.sql}) numbered "
        # (rn - 1) is a multiple of step; written without "%", which both placeholder styles
        # would need escaped.
        f"WHERE rn > 1 AND ((rn - 1) / {int(step)}) * {int(step)} = rn - 1 ORDER BY {KEY}"
    )
    return Query(sql, where.params)


def checksums_query(
    dialect: Dialect,
    table: str,
    lo: str | None,
    hi: str | None,
    bounds: list[str],
    ph: Placeholder,
) -> Query:
    """One row per non-empty sub-range: (bucket, count, sum of row hashes as text), bucket 0
    being ``[lo, b1)`` and bucket i ``[bi, b(i+1))``. One scan of the range."""
    where = _where(lo, hi, ph)
    params = dict(where.params)
    if not bounds:
        bucket = "0"
    elif dialect == "postgresql":
        # width_bucket over a sorted array: the number of bounds <= key, compared with the
        # key column's collation ("C").
        bucket = f"width_bucket({KEY}, CAST({ph('bounds')} AS text[]))"
        params["bounds"] = bounds
    else:
        bucket = f"recon_bucket({KEY})"
    total = f"sum({_hash(dialect)})::text" if dialect == "postgresql" else "recon_sum(h)"
    if dialect == "postgresql":
        sql = f"SELECT {bucket} AS b, count(*), {total} FROM {table} {where.sql} GROUP BY 1"
    else:
        sql = (
            f"SELECT b, count(*), {total} FROM (SELECT {bucket} AS b, {_hash(dialect)} AS h "
            f"FROM {table} {where.sql}) hashed GROUP BY b"
        )
    return Query(sql, params)


def rows_query(
    dialect: Dialect, table: str, lo: str | None, hi: str | None, limit: int, ph: Placeholder
) -> Query:
    """(key, version, canonical text) of the range's first ``limit`` rows, in byte order."""
    where = _where(lo, hi, ph)
    sql = (
        f"SELECT {KEY}, version, {_text(dialect)} FROM {table} {where.sql} "
        f"ORDER BY {KEY} LIMIT {int(limit)}"
    )
    return Query(sql, where.params)


def register_sqlite_functions(conn: sqlite3.Connection, bounds: list[str]) -> None:
    """The functions the SQLite queries call (deterministic; ``recon_bucket`` for ``bounds``)."""
    conn.create_function("recon_product_text", len(PRODUCT_FIELDS), canonical_product)
    conn.create_function("recon_hash", 1, row_hash, deterministic=True)
    conn.create_function("recon_bucket", 1, lambda key: bisect_right(bounds, key))
    conn.create_aggregate("recon_sum", 1, SumOfHashes)  # type: ignore[arg-type]


def bucket_ranges(
    lo: str | None, hi: str | None, bounds: list[str]
) -> list[tuple[str | None, str | None]]:
    """``[lo, b1), [b1, b2), ..., [bn, hi)`` as (lo, hi) pairs."""
    edges: list[str | None] = [lo, *bounds, hi]
    return list(pairwise(edges))


#: Runs a query on the side's own connection and returns its rows.
Runner = Callable[[Query], list[Any]]


#: A whole PostgreSQL table estimated above this many rows is split from a sample.
SAMPLE_ABOVE = 200_000
#: Sampled keys per run wanted.
SAMPLES_PER_PART = 50


def _sampled_bounds(run: Runner, table: str, parts: int, ph: Placeholder) -> list[str] | None:
    """Bounds of a whole large PostgreSQL table from a ``TABLESAMPLE SYSTEM`` sample (reads
    ~1% of its pages instead of every key), or None when the table is not large."""
    estimate = run(
        Query(
            f"SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass({ph('table')})",
            {"table": table},
        )
    )
    rows = int(estimate[0][0]) if estimate and estimate[0][0] is not None else 0
    if rows <= SAMPLE_ABOVE:
        return None
    percent = min(100.0, 100.0 * SAMPLES_PER_PART * parts / rows)
    keys = [
        str(row[0])
        for row in run(
            Query(f"SELECT {KEY} FROM {table} TABLESAMPLE SYSTEM ({percent:.6f}) ORDER BY {KEY}")
        )
    ]
    if len(keys) < parts:
        return None
    step = len(keys) / parts
    picked = sorted({keys[int(i * step)] for i in range(1, parts)})
    return picked


def answer_bounds(
    run: Runner, dialect: Dialect, table: str, request: BoundsRequest, ph: Placeholder
) -> BoundsResponse:
    if dialect == "postgresql" and request.lo is None and request.hi is None:
        sampled = _sampled_bounds(run, table, request.parts, ph)
        if sampled is not None:
            return BoundsResponse(bounds=sampled, sampled=True)
    count = int(run(count_query(table, request.lo, request.hi, ph))[0][0])
    if count <= 1:
        return BoundsResponse(bounds=[])
    step = -(-count // request.parts)  # ceil
    rows = run(bounds_query(table, request.lo, request.hi, step, ph))
    return BoundsResponse(bounds=[str(row[0]) for row in rows])


def answer_checksums(
    run: Runner, dialect: Dialect, table: str, request: ChecksumsRequest, ph: Placeholder
) -> ChecksumsResponse:
    check_sorted(request.bounds, request.lo, request.hi)
    found = {
        int(bucket): RangeChecksum(count=int(count), checksum=str(total))
        for bucket, count, total in run(
            checksums_query(dialect, table, request.lo, request.hi, request.bounds, ph)
        )
    }
    empty = RangeChecksum(count=0, checksum="0")
    return ChecksumsResponse(ranges=[found.get(i, empty) for i in range(len(request.bounds) + 1)])


def answer_rows(
    run: Runner, dialect: Dialect, table: str, request: RowsRequest, ph: Placeholder
) -> RowsResponse:
    rows = run(rows_query(dialect, table, request.lo, request.hi, request.limit, ph))
    return RowsResponse(
        rows=[CanonicalRow(key=str(k), version=int(v), text=str(t)) for k, v, t in rows]
    )
