"""The queries behind the reconciliation endpoints, shared text both owners run on **their own**
database connection (the monolith through Django's cursor, the service through SQLAlchemy).

They are the definition of a range checksum (protocol.canonical), so both sides must run the
same ones, derived from the aggregate's spec (protocol.reconcile_spec); each side passes where
it stores the aggregate (``Storage``: its table names, and its column names where they differ
from the spec's) and its driver's placeholder style.

PostgreSQL computes everything in SQL; an aggregate's child rows are folded into its text by an
ordered ``string_agg`` over the child table, grouped by parent and limited to the same key range,
joined to the parents (one scan of each table per pass). SQLite gets the Python functions of the
spec registered on the connection first (``register_sqlite_functions``).

Keys travel in their canonical text (a uuid hyphenated, lowercase) and are turned into the
column's stored form here: ``CAST(... AS uuid)`` on PostgreSQL, 32 hex digits on SQLite. Both
compare like the canonical text, so ``[lo, hi)`` is the same set of rows on every side.
"""

from __future__ import annotations

import sqlite3
import uuid
from bisect import bisect_right
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any, Literal

from contracts.reconcile import (
    BoundsRequest,
    BoundsResponse,
    CanonicalRow,
    ChecksumsRequest,
    ChecksumsResponse,
    RangeChecksum,
    RowsRequest,
    RowsResponse,
)
from protocol.canonical import SumOfHashes, pg_row_hash, row_hash
from protocol.reconcile_spec import CHILD_ROW_SEPARATOR, AggregateSpec, Kind, join_children

Dialect = Literal["postgresql", "sqlite"]
#: Renders a named parameter in the driver's style: ``:name`` (SQLAlchemy) or ``%(name)s``.
Placeholder = Callable[[str], str]


@dataclass(frozen=True)
class Query:
    sql: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Storage:
    """Where one side stores an aggregate."""

    table: str
    #: The table of its child rows (the spec's ``children``), if it has them.
    child_table: str | None = None
    #: Spec field name -> this side's column, where they differ (parent, then child rows).
    columns: Mapping[str, str] = field(default_factory=dict)
    child_columns: Mapping[str, str] = field(default_factory=dict)

    def column(self, name: str) -> str:
        return self.columns.get(name, name)

    def child_column(self, name: str) -> str:
        return self.child_columns.get(name, name)


@dataclass(frozen=True)
class Queries:
    """The reconciliation queries of one aggregate on one side's connection."""

    spec: AggregateSpec
    storage: Storage
    dialect: Dialect
    ph: Placeholder

    def __post_init__(self) -> None:
        if (self.spec.children is None) != (self.storage.child_table is None):
            raise ValueError(f"{self.spec.name}: a child table exactly when the spec has one")

    # --- keys ---------------------------------------------------------------------------

    @property
    def _uuid_key(self) -> bool:
        return self.spec.key.kind is Kind.UUID

    @property
    def key_column(self) -> str:
        return f"p.{self.storage.column(self.spec.key.name)}"

    def stored_key(self, key: str) -> str:
        """A canonical key as the column compares it (SQLite holds a uuid as 32 hex digits)."""
        self.spec.check_key(key)
        return uuid.UUID(key).hex if self._uuid_key and self.dialect == "sqlite" else key

    def _param(self, name: str) -> str:
        if self._uuid_key and self.dialect == "postgresql":
            return f"CAST({self.ph(name)} AS uuid)"
        return self.ph(name)

    def _where(self, lo: str | None, hi: str | None, column: str) -> Query:
        """Keys in ``[lo, hi)``. The column's own collation (``C`` / ``BINARY``) or the uuid
        order decides the comparison, so it is byte order and an index on the key serves it."""
        clauses: list[str] = []
        params: dict[str, Any] = {}
        if lo is not None:
            clauses.append(f"{column} >= {self._param('lo')}")
            params["lo"] = self.stored_key(lo)
        if hi is not None:
            clauses.append(f"{column} < {self._param('hi')}")
            params["hi"] = self.stored_key(hi)
        return Query(("WHERE " + " AND ".join(clauses)) if clauses else "", params)

    # --- the canonical text -------------------------------------------------------------

    def _children_join(self, lo: str | None, hi: str | None) -> str:
        """The child rows' field per parent in ``[lo, hi)`` as ``c.children`` (empty text
        when the join finds none)."""
        children = self.spec.children
        if children is None:
            return ""
        parent = f"c.{self.storage.child_column(children.parent_key)}"
        where = self._where(lo, hi, parent).sql
        if self.dialect == "postgresql":
            refs = [f"c.{self.storage.child_column(f.name)}" for f in children.fields]
            key = children.fields[0]
            # The child's key orders its rows: a uuid sorts as its text, text in byte order.
            order = refs[0] + (' COLLATE "C"' if key.kind is Kind.TEXT else "")
            separator = f"chr({ord(CHILD_ROW_SEPARATOR)})"
            folded = f"string_agg({children.pg(refs)}, {separator} ORDER BY {order})"
        else:
            args = ", ".join(f"c.{self.storage.child_column(f.name)}" for f in children.fields)
            folded = f"recon_children(recon_child({args}))"
        return (
            f"LEFT JOIN (SELECT {parent} AS parent, {folded} AS children "
            f"FROM {self.storage.child_table} c {where} GROUP BY {parent}) c "
            f"ON c.parent = {self.key_column}"
        )

    def text(self) -> str:
        """The row's canonical text as an expression over ``p`` (and ``c``, the join)."""
        refs = [f"p.{self.storage.column(f.name)}" for f in self.spec.fields]
        children = None if self.spec.children is None else "c.children"
        if self.dialect == "postgresql":
            return self.spec.pg(refs, children)
        return f"recon_text({', '.join(refs if children is None else [*refs, children])})"

    def _hash(self) -> str:
        text = self.text()
        return pg_row_hash(text) if self.dialect == "postgresql" else f"recon_hash({text})"

    def _from(self, lo: str | None, hi: str | None) -> Query:
        where = self._where(lo, hi, self.key_column)
        join = self._children_join(lo, hi)
        return Query(f"FROM {self.storage.table} p {join} {where.sql}", where.params)

    # --- the queries --------------------------------------------------------------------

    def count(self, lo: str | None, hi: str | None) -> Query:
        where = self._where(lo, hi, self.key_column)
        return Query(f"SELECT count(*) FROM {self.storage.table} p {where.sql}", where.params)

    def bounds(self, lo: str | None, hi: str | None, step: int) -> Query:
        """The keys at rows ``step + 1``, ``2 * step + 1``, ... of the range (byte order): each
        is the first key of a run of ``step`` rows. Only keys are read (an index-only scan)."""
        if step < 1:
            raise ValueError(f"step must be at least 1, got {step}")
        where = self._where(lo, hi, self.key_column)
        key = self.key_column
        sql = (
            f"SELECT k FROM (SELECT {key} AS k, row_number() OVER (ORDER BY {key}) AS rn "
            f"FROM {self.storage.table} p {where.sql}) numbered "
            # (rn - 1) is a multiple of step; written without "%", which both placeholder
            # styles would need escaped.
            f"WHERE rn > 1 AND ((rn - 1) / {int(step)}) * {int(step)} = rn - 1 ORDER BY k"
        )
        return Query(sql, where.params)

    def checksums(self, lo: str | None, hi: str | None, bounds: list[str]) -> Query:
        """One row per non-empty sub-range: (bucket, count, sum of row hashes as text), bucket 0
        being ``[lo, b1)`` and bucket i ``[bi, b(i+1))``. One scan of the range."""
        source = self._from(lo, hi)
        params = dict(source.params)
        if not bounds:
            bucket = "0"
        elif self.dialect == "postgresql":
            # width_bucket over a sorted array: the number of bounds <= key, compared as the
            # key column compares ("C" text, or uuid).
            array = "uuid[]" if self._uuid_key else "text[]"
            bucket = f"width_bucket({self.key_column}, CAST({self.ph('bounds')} AS {array}))"
            params["bounds"] = [self.stored_key(b) for b in bounds]
        else:
            bucket = f"recon_bucket({self.key_column})"
        if self.dialect == "postgresql":
            sql = (
                f"SELECT {bucket} AS b, count(*), sum({self._hash()})::text {source.sql} GROUP BY 1"
            )
        else:
            sql = (
                f"SELECT b, count(*), recon_sum(h) FROM (SELECT {bucket} AS b, {self._hash()} "
                f"AS h {source.sql}) hashed GROUP BY b"
            )
        return Query(sql, params)

    def rows(self, lo: str | None, hi: str | None, limit: int) -> Query:
        """(key, version, canonical text) of the range's first ``limit`` rows, in byte order."""
        source = self._from(lo, hi)
        version = f"p.{self.storage.column('version')}"
        sql = (
            f"SELECT {self.key_column}, {version}, {self.text()} {source.sql} "
            f"ORDER BY {self.key_column} LIMIT {int(limit)}"
        )
        return Query(sql, source.params)

    def sample(self, percent: float) -> Query:
        return Query(
            f"SELECT {self.key_column} FROM {self.storage.table} p "
            f"TABLESAMPLE SYSTEM ({percent:.6f}) ORDER BY {self.key_column}"
        )

    def estimate(self) -> Query:
        return Query(
            f"SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass({self.ph('table')})",
            {"table": self.storage.table},
        )


class _Children:
    """SQLite aggregate: one parent's child texts as the spec's children field (sorted)."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def step(self, text: str | None) -> None:
        if text is not None:
            self.texts.append(text)

    def finalize(self) -> str:
        return join_children(self.texts)


def register_sqlite_functions(
    conn: sqlite3.Connection, spec: AggregateSpec, bounds: list[str]
) -> None:
    """The functions the SQLite queries call for ``spec`` (``recon_bucket`` for ``bounds``, in
    the keys' stored form)."""
    fields = len(spec.fields)
    children = spec.children

    def text(*values: object) -> str:
        # With child rows, the last argument is their field (NULL: the join found none).
        folded = values[fields] if len(values) > fields else None
        return spec.canonical(values[:fields], None if folded is None else str(folded))

    conn.create_function("recon_text", fields + (children is not None), text, deterministic=True)
    if children is not None:
        conn.create_function(
            "recon_child",
            len(children.fields),
            lambda *values: children.canonical(values),
            deterministic=True,
        )
        conn.create_aggregate("recon_children", 1, _Children)  # type: ignore[arg-type]
    conn.create_function("recon_hash", 1, row_hash, deterministic=True)
    conn.create_function("recon_bucket", 1, lambda key: bisect_right(bounds, key))
    conn.create_aggregate("recon_sum", 1, SumOfHashes)  # type: ignore[arg-type]


def check_sorted(bounds: list[str], lo: str | None, hi: str | None) -> None:
    """``bounds`` strictly increasing and inside ``[lo, hi)``; ValueError otherwise."""
    for before, after in pairwise(bounds):
        if not before < after:
            raise ValueError(f"bounds must be strictly increasing: {before!r} >= {after!r}")
    if bounds and lo is not None and bounds[0] <= lo:
        raise ValueError(f"bound {bounds[0]!r} is not above lo {lo!r}")
    if bounds and hi is not None and bounds[-1] >= hi:
        raise ValueError(f"bound {bounds[-1]!r} is not below hi {hi!r}")


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


def _sampled_bounds(run: Runner, queries: Queries, parts: int) -> list[str] | None:
    """Bounds of a whole large PostgreSQL table from a ``TABLESAMPLE SYSTEM`` sample (reads
    ~1% of its pages instead of every key), or None when the table is not large."""
    estimate = run(queries.estimate())
    rows = int(estimate[0][0]) if estimate and estimate[0][0] is not None else 0
    if rows <= SAMPLE_ABOVE:
        return None
    percent = min(100.0, 100.0 * SAMPLES_PER_PART * parts / rows)
    keys = [queries.spec.canonical_key(row[0]) for row in run(queries.sample(percent))]
    if len(keys) < parts:
        return None
    step = len(keys) / parts
    return sorted({keys[int(i * step)] for i in range(1, parts)})


class Answers:
    """One side's answers for one aggregate: the shared queries run by ``execute`` on the side's
    own connection. On SQLite, ``sqlite_connection`` hands over the DB-API connection the spec's
    functions are registered on before each answer (``recon_bucket`` knows the request's bounds).
    """

    def __init__(
        self,
        queries: Queries,
        execute: Runner,
        sqlite_connection: Callable[[], sqlite3.Connection] | None = None,
    ) -> None:
        if queries.dialect == "sqlite" and sqlite_connection is None:
            raise ValueError("SQLite answers need the connection to register functions on")
        self.queries = queries
        self.execute = execute
        self.sqlite_connection = sqlite_connection

    def _run(self, bounds: list[str] | None = None) -> Runner:
        if self.sqlite_connection is not None and self.queries.dialect == "sqlite":
            stored = [self.queries.stored_key(b) for b in bounds or []]
            register_sqlite_functions(self.sqlite_connection(), self.queries.spec, stored)
        return self.execute

    def bounds(self, request: BoundsRequest) -> BoundsResponse:
        queries = self.queries
        run = self._run()
        if queries.dialect == "postgresql" and request.lo is None and request.hi is None:
            sampled = _sampled_bounds(run, queries, request.parts)
            if sampled is not None:
                return BoundsResponse(bounds=sampled, sampled=True)
        count = int(run(queries.count(request.lo, request.hi))[0][0])
        if count <= 1:
            return BoundsResponse(bounds=[])
        step = -(-count // request.parts)  # ceil
        rows = run(queries.bounds(request.lo, request.hi, step))
        return BoundsResponse(bounds=[queries.spec.canonical_key(row[0]) for row in rows])

    def checksums(self, request: ChecksumsRequest) -> ChecksumsResponse:
        check_sorted(request.bounds, request.lo, request.hi)
        run = self._run(request.bounds)
        query = self.queries.checksums(request.lo, request.hi, request.bounds)
        found = {
            int(bucket): RangeChecksum(count=int(count), checksum=str(total))
            for bucket, count, total in run(query)
        }
        empty = RangeChecksum(count=0, checksum="0")
        return ChecksumsResponse(
            ranges=[found.get(i, empty) for i in range(len(request.bounds) + 1)]
        )

    def rows(self, request: RowsRequest) -> RowsResponse:
        rows = self._run()(self.queries.rows(request.lo, request.hi, request.limit))
        key = self.queries.spec.canonical_key
        return RowsResponse(
            rows=[CanonicalRow(key=key(k), version=int(v), text=str(t)) for k, v, t in rows]
        )
