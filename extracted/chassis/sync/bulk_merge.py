"""The backfill's bulk write on PostgreSQL, shared by the services: ``COPY`` a page into a
temporary staging table, then one version-guarded merge into the real table.

The merge is ``INSERT INTO t SELECT ... FROM staging ON CONFLICT (key) DO UPDATE ... WHERE
t.version < excluded.version``: a row an event already brought to a newer version is left alone,
and an event newer than the backfilled row still applies afterwards (its compare-and-set sees the
older version), so a backfill is safe while the relay is live. An aggregate with child rows
(a payment's refunds, an order's lines) merges them in the same statement, for the parents the
merge actually wrote only: their children not on the page go, the page's are upserted.
A page of an aggregate without children whose key range holds no row yet skips the staging
table: it is ``COPY``ed straight in (``AggregateMerge.copy_into_empty_range``).

Staging tables are ``ON COMMIT DELETE ROWS`` (``LIKE`` the real table: its columns and
defaults, none of its constraints), one per connection, created once. The caller runs all of
this inside its own transaction (the checkpoint's, ``extracted.chassis.sync.backfill_checkpoints``).

psycopg is imported where a page is written, not with the module: the services declare their
merges at import, and on SQLite (the embedded default) no process needs the driver, some 10 MiB.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from extracted.chassis.sync.subscriber import SyncInputError
from protocol.copy_text import count_rows

if TYPE_CHECKING:
    import psycopg


def staging_name(table: str) -> str:
    return f"backfill_{table}_staging"


def create_staging_sql(table: str) -> str:
    """Create ``table``'s staging table unless this connection has it already."""
    return (
        f"CREATE TEMPORARY TABLE IF NOT EXISTS {staging_name(table)} "
        f"(LIKE {table} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
    )


def merge_sql(table: str, columns: Sequence[str], key: str) -> str:
    """The version-guarded merge of ``table``'s staging table into ``table``. ``DISTINCT ON``:
    a page naming one key twice keeps its newest version (one INSERT may not touch a row
    twice); a keyset page never does, so this sorts an already sorted page."""
    names = ", ".join(columns)
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c != key)
    return (
        f"INSERT INTO {table} ({names}) "
        f"SELECT DISTINCT ON ({key}) {names} FROM {staging_name(table)} "
        f"ORDER BY {key}, version DESC "
        f"ON CONFLICT ({key}) DO UPDATE SET {updates} WHERE {table}.version < excluded.version"
    )


@dataclass(frozen=True)
class Children:
    """The child rows of an aggregate: ``table``'s ``columns``, its primary key ``key`` (one
    column or several), the column naming the parent's key (``parent``), and the attribute of
    the aggregate's state that lists them (``field``: a payment's ``refunds``, an order's
    ``lines``; their other columns are attributes of each)."""

    table: str
    columns: tuple[str, ...]
    key: tuple[str, ...]
    parent: str
    field: str


@dataclass(frozen=True)
class AggregateMerge:
    """How one aggregate's page is merged: its table, columns (in the order rows are given),
    key, and its children if any."""

    table: str
    columns: tuple[str, ...]
    key: str
    children: Children | None = None

    @cached_property
    def sql(self) -> str:
        """One statement: the parents' merge, and for the parents it wrote, their children
        replaced (those not on the page deleted, the page's upserted: two row sets that never
        meet, so the two run in one statement); the number of parents written."""
        merge = merge_sql(self.table, self.columns, self.key)
        kids = self.children
        if kids is None:
            return merge
        staged = staging_name(kids.table)
        same_child = " AND ".join(f"s.{k} = c.{k}" for k in kids.key)
        names = ", ".join(kids.columns)
        picked = ", ".join(f"s.{c}" for c in kids.columns)
        others = [c for c in kids.columns if c not in kids.key]
        on_conflict = (
            "DO UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in others)
            if others
            else "DO NOTHING"
        )
        return (
            f"WITH written AS ({merge} RETURNING {self.table}.{self.key}), "
            f"gone AS (DELETE FROM {kids.table} c USING written w "
            f"WHERE c.{kids.parent} = w.{self.key} "
            f"AND NOT EXISTS (SELECT 1 FROM {staged} s WHERE {same_child})), "
            f"added AS (INSERT INTO {kids.table} ({names}) SELECT {picked} FROM {staged} s "
            f"JOIN written w ON s.{kids.parent} = w.{self.key} "
            f"ON CONFLICT ({', '.join(kids.key)}) {on_conflict}) "
            f"SELECT count(*) FROM written"
        )

    def write_states(self, session: Session, states: Sequence[Any]) -> int:
        """``write`` of states (the contract's models, one per key): the columns are their
        attributes, the children those listed in ``children.field``."""
        rows = (tuple(getattr(state, c) for c in self.columns) for state in states)
        kids = self.children
        if kids is None:
            return self.write(session, rows)
        child_rows = (
            tuple(
                getattr(state, self.key) if c == kids.parent else getattr(child, c)
                for c in kids.columns
            )
            for state in states
            for child in getattr(state, kids.field)
        )
        return self.write(session, rows, child_rows)

    def write(
        self,
        session: Session,
        rows: Iterable[Sequence[Any]],
        child_rows: Iterable[Sequence[Any]] = (),
    ) -> int:
        """COPY ``rows`` (and ``child_rows``) into staging and merge them; the parents written.
        A page the database refuses raises ``SyncInputError`` (the caller's transaction then
        rolls back: nothing of it is applied)."""
        with poison_as_input_error(self.table), raw_cursor(session) as cursor:
            copy_rows(cursor, self.table, self.columns, rows)
            if self.children is not None:
                copy_rows(cursor, self.children.table, self.children.columns, child_rows)
            return self._merge(cursor)

    def write_text(self, session: Session, text: str | bytes, child_text: str | bytes = b"") -> int:
        """``write`` of a page in COPY text (protocol.copy_text), handed to COPY as is."""
        with poison_as_input_error(self.table), raw_cursor(session) as cursor:
            copy_text(cursor, self.table, self.columns, text)
            if self.children is not None:
                copy_text(cursor, self.children.table, self.children.columns, child_text)
            return self._merge(cursor)

    def copy_into_empty_range(
        self, session: Session, text: str | bytes, *, after_key: str | None, last_key: str
    ) -> int | None:
        """For an aggregate without children: when no row of the page's key range (after
        ``after_key``, up to ``last_key``) exists yet (the usual case, a backfill into an empty
        table), COPY the page straight into the table, which costs what a raw COPY costs; the
        rows written. None, with nothing written, when the range holds a row, or when a row an
        event inserted meanwhile makes that COPY fail on the key: then the page takes the merge
        (``write_text``)."""
        assert self.children is None
        with poison_as_input_error(self.table), raw_cursor(session) as cursor:
            if self._range_is_empty(cursor, after_key, last_key) and self._copy_straight_in(
                cursor, text
            ):
                return count_rows(text)
        return None

    def _range_is_empty(
        self, cursor: psycopg.Cursor[Any], after_key: str | None, last_key: str
    ) -> bool:
        where, params = (
            (f"{self.key} <= %s", (last_key,))
            if after_key is None
            else (f"{self.key} > %s AND {self.key} <= %s", (after_key, last_key))
        )
        cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {self.table} WHERE {where})", params)
        row = cursor.fetchone()
        return row is not None and not row[0]

    def _copy_straight_in(self, cursor: psycopg.Cursor[Any], text: str | bytes) -> bool:
        """COPY the page straight into the table under a savepoint; False (and nothing written)
        when a row of it exists already (a live event got there first)."""
        import psycopg

        cursor.execute("SAVEPOINT backfill_copy")
        try:
            with cursor.copy(f"COPY {self.table} ({', '.join(self.columns)}) FROM STDIN") as copy:
                copy.write(text)
        except psycopg.errors.UniqueViolation:
            cursor.execute("ROLLBACK TO SAVEPOINT backfill_copy")
            return False
        cursor.execute("RELEASE SAVEPOINT backfill_copy")
        return True

    def _merge(self, cursor: psycopg.Cursor[Any]) -> int:
        cursor.execute(self.sql)
        if self.children is None:
            return cursor.rowcount
        written = cursor.fetchone()
        return int(written[0]) if written else 0


@contextmanager
def raw_cursor(session: Session) -> Iterator[psycopg.Cursor[Any]]:
    """A psycopg cursor on the session's connection, inside its transaction."""
    import psycopg

    dbapi = session.connection().connection.driver_connection
    assert isinstance(dbapi, psycopg.Connection)
    with dbapi.cursor() as cursor:
        yield cursor


@contextmanager
def poison_as_input_error(what: str) -> Iterator[None]:
    """A page the database refuses becomes ``SyncInputError``, one line: a field that does not
    parse, a row a constraint refuses, a child named twice (one merge may not touch a row
    twice)."""
    import psycopg

    try:
        yield
    except (psycopg.DataError, psycopg.IntegrityError, psycopg.errors.CardinalityViolation) as exc:
        raise SyncInputError(f"invalid {what} page: {str(exc).splitlines()[0]}") from None


def copy_rows(
    cursor: psycopg.Cursor[Any], table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> None:
    """COPY Python rows (values in ``columns`` order) into ``table``'s staging table."""
    cursor.execute(create_staging_sql(table))
    with cursor.copy(f"COPY {staging_name(table)} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def copy_text(
    cursor: psycopg.Cursor[Any], table: str, columns: Sequence[str], page: str | bytes
) -> None:
    """COPY a page of COPY text (protocol.copy_text) into ``table``'s staging table."""
    cursor.execute(create_staging_sql(table))
    with cursor.copy(f"COPY {staging_name(table)} ({', '.join(columns)}) FROM STDIN") as copy:
        copy.write(page)


__all__ = [
    "AggregateMerge",
    "Children",
    "copy_rows",
    "copy_text",
    "create_staging_sql",
    "merge_sql",
    "poison_as_input_error",
    "raw_cursor",
    "staging_name",
]
