"""No false positives: every reconciled aggregate's canonical text and range checksums
(protocol.reconcile_spec, protocol.reconcile_sql) are the same whether PostgreSQL computes them
in SQL or SQLite through the registered Python functions, from whatever form each storage stack
hands back: uuids as PostgreSQL ``uuid`` or 32 hex digits, decimals at any stored scale or as
SQLite REALs, timestamps at any precision, naive or in any zone, as text with or without a
fraction, NULL apart from the empty string, child rows in any insertion order. Keys sort the same
in PostgreSQL (``COLLATE "C"``, ``uuid``), SQLite (``BINARY`` over the hex) and Python (the
canonical text). Property tests against real PostgreSQL and SQLite, running the very queries
both owners run."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts.reconcile import BoundsRequest, ChecksumsRequest, RowsRequest
from protocol.canonical import canonical_timestamp, pg_row_hash, row_hash
from protocol.reconcile_spec import (
    NULL_MARK,
    PAYMENTS,
    PRODUCTS,
    SPECS,
    AggregateSpec,
    Field,
    Kind,
    canonical_uuid,
    join_children,
)
from protocol.reconcile_sql import Answers, Dialect, Queries, Storage

SKU_ALPHABET = "ABCXYZabcxyz019._-"
skus = st.text(alphabet=SKU_ALPHABET, min_size=1, max_size=12)
moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
zones = st.sampled_from(
    [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=8))]
)
FAST = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
PG = "%({})s".format
LITE = ":{}".format

# --- stored forms ----------------------------------------------------------------------------


def _value(f: Field, *, key: bool = False) -> st.SearchStrategy[Any]:
    base: st.SearchStrategy[Any]
    if f.kind is Kind.TEXT:
        base = (
            skus if key else st.text(st.characters(blacklist_categories=["Cs", "Cc"]), max_size=12)
        )
    elif f.kind is Kind.INT:
        base = st.integers(0, 2_147_483_647)
    elif f.kind is Kind.DECIMAL:
        base = st.decimals(min_value=0, max_value=Decimal("99999999.99"), places=f.scale)
    elif f.kind is Kind.TIMESTAMP:
        base = moments
    else:
        base = st.uuids()
    return st.none() | base if f.nullable else base


def _rows(fields: tuple[Field, ...], *, size: int) -> st.SearchStrategy[list[tuple[Any, ...]]]:
    """Rows with unique first fields (the key)."""
    row = st.tuples(*(_value(f, key=i == 0) for i, f in enumerate(fields)))
    return st.lists(row, min_size=0 if size == 3 else 1, max_size=size, unique_by=lambda r: r[0])


def aggregates(spec: AggregateSpec) -> st.SearchStrategy[list[tuple[tuple[Any, ...], list[Any]]]]:
    """A few parents, each with its child rows (none when the spec has none)."""
    children = _rows(spec.children.fields, size=3) if spec.children else st.just([])
    return st.lists(
        st.tuples(st.tuples(*(_value(f, key=i == 0) for i, f in enumerate(spec.fields))), children),
        min_size=1,
        max_size=4,
        unique_by=lambda a: a[0][0],
    )


def postgres_form(f: Field, value: Any, zone: timezone) -> Any:
    """As the PostgreSQL drivers bind it (a timestamp from another zone: PostgreSQL keeps the
    instant)."""
    if value is not None and f.kind is Kind.TIMESTAMP:
        return value.astimezone(zone)
    return value


def django_sqlite_form(f: Field, value: Any, zone: timezone) -> Any:
    """As Django writes it on SQLite: uuid hex, decimal text into a NUMERIC column (SQLite keeps
    a REAL), naive UTC text without a zero fraction."""
    if value is None:
        return None
    if f.kind is Kind.UUID:
        return value.hex
    if f.kind is Kind.DECIMAL:
        return f"{value:.{f.scale}f}"
    if f.kind is Kind.TIMESTAMP:
        return str(value.astimezone(UTC).replace(tzinfo=None))
    return value


def sqlalchemy_sqlite_form(f: Field, value: Any, zone: timezone) -> Any:
    """As the services write it on SQLite: uuid hex, exact decimal text, six-digit fraction."""
    if value is None:
        return None
    if f.kind is Kind.UUID:
        return value.hex
    if f.kind is Kind.DECIMAL:
        return f"{value.normalize():f}"  # any scale: "12.5", "12.50" and "12.500" are one value
    if f.kind is Kind.TIMESTAMP:
        return value.astimezone(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
    return value


# --- the tables ------------------------------------------------------------------------------

_PG_TYPES = {
    Kind.TEXT: "varchar(200)",
    Kind.INT: "integer",
    # A wider scale than the spec's: the canonical text still has the spec's places.
    Kind.DECIMAL: "numeric(16, 4)",
    Kind.TIMESTAMP: "timestamptz",
    Kind.UUID: "uuid",
}
_SQLITE_TYPES = {
    "django": {Kind.DECIMAL: "decimal", Kind.UUID: "char(32)", Kind.TIMESTAMP: "datetime"},
    "sqlalchemy": {Kind.DECIMAL: "varchar(14)", Kind.UUID: "char(32)", Kind.TIMESTAMP: "datetime"},
}


def _columns(fields: tuple[Field, ...], types: Callable[[Field], str]) -> str:
    return ", ".join(f"{f.name} {types(f)}" for f in fields)


def _ddl(spec: AggregateSpec, types: Callable[[Field], str], parent_key: str) -> list[str]:
    statements = [
        f"CREATE TEMPORARY TABLE p_{spec.name} ({_columns(spec.fields, types)}, "
        f"PRIMARY KEY ({spec.key.name}))"
    ]
    if spec.children is not None:
        statements.append(
            f"CREATE TEMPORARY TABLE c_{spec.name} ({spec.children.parent_key} {parent_key}, "
            f"{_columns(spec.children.fields, types)})"
        )
    return statements


def _storage(spec: AggregateSpec) -> Storage:
    return Storage(f"p_{spec.name}", None if spec.children is None else f"c_{spec.name}")


def _pg_type(f: Field) -> str:
    collation = ' COLLATE "C"' if f.kind is Kind.TEXT else ""
    return _PG_TYPES[f.kind] + collation


class Side:
    """One database holding one spec's rows in one stored form, answering the shared queries."""

    def __init__(
        self, spec: AggregateSpec, run: Callable[[str, Any], list[Any]], dialect: Dialect, form: Any
    ) -> None:
        self.spec = spec
        self.run_sql = run
        self.form = form
        self.queries = Queries(
            spec,
            _storage(spec),
            dialect,
            PG if dialect == "postgresql" else LITE,
        )
        self.conn: sqlite3.Connection | None = None

    def load(self, aggregates: list[tuple[tuple[Any, ...], list[Any]]], zone: timezone) -> None:
        spec = self.spec
        self.run_sql(f"DELETE FROM p_{spec.name}", ())
        if spec.children is not None:
            self.run_sql(f"DELETE FROM c_{spec.name}", ())
        mark = "%s" if self.queries.dialect == "postgresql" else "?"
        for parent, children in aggregates:
            values = [self.form(f, v, zone) for f, v in zip(spec.fields, parent, strict=True)]
            marks = ", ".join([mark] * len(values))
            self.run_sql(f"INSERT INTO p_{spec.name} VALUES ({marks})", values)
            assert spec.children is not None or not children
            # Children inserted newest-key first: the canonical order is not the insertion's.
            for child in sorted(children, key=lambda c: str(c[0]), reverse=True):
                assert spec.children is not None
                key = self.form(spec.key, parent[0], zone)
                row = [
                    self.form(f, v, zone) for f, v in zip(spec.children.fields, child, strict=True)
                ]
                marks = ", ".join([mark] * (len(row) + 1))
                self.run_sql(f"INSERT INTO c_{spec.name} VALUES ({marks})", [key, *row])

    @property
    def answers(self) -> Answers:
        conn = self.conn
        return Answers(
            self.queries,
            lambda query: self.run_sql(query.sql, query.params),
            None if conn is None else lambda: conn,
        )

    def rows(self) -> list[tuple[str, int, str]]:
        return [(r.key, r.version, r.text) for r in self.answers.rows(RowsRequest()).rows]

    def checksums(self, bounds: list[str]) -> list[tuple[int, str]]:
        answer = self.answers.checksums(ChecksumsRequest(bounds=bounds))
        return [(r.count, r.checksum) for r in answer.ranges]


@contextmanager
def sides(spec: AggregateSpec, pg_url: str) -> Iterator[list[Side]]:
    """The spec's tables on PostgreSQL and in SQLite as Django and as SQLAlchemy store them."""
    with (
        psycopg.connect(pg_url, autocommit=True) as pg,
        sqlite3.connect(":memory:") as django,
        sqlite3.connect(":memory:") as alchemy,
    ):

        def on_pg(sql: str, params: Any) -> list[Any]:
            cursor = pg.execute(sql, params or None)
            return cursor.fetchall() if cursor.description else []

        def on(conn: sqlite3.Connection) -> Callable[[str, Any], list[Any]]:
            return lambda sql, params: conn.execute(sql, params).fetchall()

        for statement in _ddl(spec, _pg_type, "uuid" if spec.key.kind is Kind.UUID else "text"):
            on_pg(statement, ())
        found = [Side(spec, on_pg, "postgresql", postgres_form)]
        for name, conn, form in (
            ("django", django, django_sqlite_form),
            ("sqlalchemy", alchemy, sqlalchemy_sqlite_form),
        ):
            types = _SQLITE_TYPES[name]

            def sqlite_type(f: Field, types: dict[Kind, str] = types) -> str:
                return types.get(f.kind, "text")

            for statement in _ddl(spec, sqlite_type, "char(32)"):
                conn.execute(statement)
            side = Side(spec, on(conn), "sqlite", form)
            side.conn = conn
            found.append(side)
        yield found


@pytest.mark.parametrize("name", list(SPECS))
def test_every_side_writes_the_same_rows_and_checksums(name: str, pg_url: str) -> None:
    spec = SPECS[name]
    with sides(spec, pg_url) as every:

        @FAST
        @given(aggregates=aggregates(spec), zone=zones)
        def check(aggregates: list[tuple[tuple[Any, ...], list[Any]]], zone: timezone) -> None:
            for side in every:
                side.load(aggregates, zone)
            pg_rows = every[0].rows()
            # Computed in Python from the generated values: the spec's own definition.
            expected = sorted(
                (
                    spec.canonical_key(parent[0]),
                    spec.canonical(
                        parent,
                        None
                        if spec.children is None
                        else join_children([spec.children.canonical(c) for c in children]),
                    ),
                )
                for parent, children in aggregates
            )
            assert [(key, text) for key, _, text in pg_rows] == expected
            keys = [key for key, _, _ in pg_rows]
            bounds = keys[1::2]
            for side in every[1:]:
                assert side.rows() == pg_rows, side.form.__name__
            sums = {side.form.__name__: side.checksums(bounds) for side in every}
            assert len(set(map(tuple, sums.values()))) == 1, sums
            assert sum(count for count, _ in sums["postgres_form"]) == len(aggregates)

        check()


@pytest.mark.parametrize("name", ["reservations", "payments"])
def test_bounds_split_uuid_keys_the_same_on_postgresql_and_sqlite(name: str, pg_url: str) -> None:
    """``id >= lo`` over PostgreSQL's ``uuid`` and SQLite's hex, and the canonical text in
    Python, agree on every key's place."""
    spec = SPECS[name]
    with sides(spec, pg_url) as every:

        @FAST
        @given(aggregates=aggregates(spec), parts=st.integers(2, 4))
        def check(aggregates: list[tuple[tuple[Any, ...], list[Any]]], parts: int) -> None:
            for side in every:
                side.load(aggregates, UTC)
            keys = sorted(spec.canonical_key(parent[0]) for parent, _ in aggregates)
            split = {
                side.form.__name__: side.answers.bounds(BoundsRequest(parts=parts)).bounds
                for side in every
            }
            assert len({tuple(b) for b in split.values()}) == 1, split
            bounds = split["postgres_form"]
            assert set(bounds) <= set(keys) and bounds == sorted(bounds)
            for side in every:
                counted = [c for c, _ in side.checksums(bounds)]
                expected = [
                    len([k for k in keys if (lo is None or k >= lo) and (hi is None or k < hi)])
                    for lo, hi in zip([None, *bounds], [*bounds, None], strict=True)
                ]
                assert counted == expected, side.form.__name__

        check()


def test_null_and_empty_text_differ(pg_url: str) -> None:
    """A payment's ``decline_reason`` NULL and ``""`` are different rows on every side."""
    spec = PAYMENTS
    moment = datetime(2026, 11, 25, 14, 7, 34, 120000, tzinfo=UTC)
    money = Decimal("12.50")
    payment = [
        uuid.UUID(int=1),
        uuid.UUID(int=2),
        None,
        money,
        "declined",
        money,
        money,
        None,
        "",
        1,
        moment,
        moment,
    ]
    with sides(spec, pg_url) as every:
        texts = []
        for reason in (None, ""):
            payment[7] = reason
            for side in every:
                side.load([(tuple(payment), [])], UTC)
            found = {side.rows()[0][2] for side in every}
            assert len(found) == 1
            texts.append(found.pop())
        assert texts[0] != texts[1]
        assert spec.split(texts[0])["decline_reason"] == NULL_MARK
        assert spec.split(texts[1])["decline_reason"] == ""
        assert spec.split(texts[0])["gateway_reference"] == ""


@FAST
@given(moment=moments, zone=zones)
def test_timestamp_precision_and_zone_never_change_the_canonical_form(
    moment: datetime, zone: timezone
) -> None:
    whole = moment.replace(microsecond=0)
    forms = {
        canonical_timestamp(whole),
        canonical_timestamp(whole.astimezone(zone)),
        canonical_timestamp(str(whole.replace(tzinfo=None))),  # Django: no ".000000"
        canonical_timestamp(whole.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")),
    }
    assert len(forms) == 1


@FAST
@given(value=st.uuids(), other=st.uuids())
def test_a_uuid_has_one_canonical_text_that_sorts_like_its_bytes(
    value: uuid.UUID, other: uuid.UUID
) -> None:
    forms = {canonical_uuid(value), canonical_uuid(value.hex), canonical_uuid(str(value).upper())}
    assert forms == {str(value)}
    assert (str(value) < str(other)) == (value.bytes < other.bytes) == (value.hex < other.hex)


def test_a_key_in_another_spelling_is_refused() -> None:
    key = uuid.uuid4()
    assert PAYMENTS.check_key(str(key)) == str(key)
    for bad in (key.hex, str(key).upper(), "not-a-uuid"):
        with pytest.raises(ValueError):
            PAYMENTS.check_key(bad)
    assert PRODUCTS.check_key("SKU-1") == "SKU-1"


def test_the_product_text_is_the_one_before_specs(pg_url: str) -> None:
    """Products keep the canonical text (and so the checksums) of before the specs: the fields
    joined in the order ``sku, name, price, on_hand, reserved, version, created_at,
    updated_at``, the row hash its md5's first 8 bytes."""
    moment = datetime(2026, 11, 25, 14, 7, 34, 120000, tzinfo=UTC)
    text = PRODUCTS.canonical(["SKU-1", "Mug", "12.5", 3, 1, 2, moment, moment])
    assert text == "\x1f".join(
        ["SKU-1", "Mug", "12.50", "3", "1", "2", "2026-11-25 14:07:34.12", "2026-11-25 14:07:34.12"]
    )
    with psycopg.connect(pg_url) as conn:
        row = conn.execute(f"SELECT {pg_row_hash('%s')}", (text,)).fetchone()
    assert row == (row_hash(text),)
