"""The backfill's bulk readers: one keyset page of an aggregate as COPY text (protocol.copy_text),
with its child rows after the page's rows where it has some (a payment's refunds, an order's
lines). Each app names its page (``monolith.inventory.bulk_read``, ``monolith.payments.bulk_read``,
``monolith.orders.bulk_read``).

On PostgreSQL the server writes the page itself (``COPY (SELECT ...) TO STDOUT``): no model
instance, no dict and no JSON per row, which is where a page of state dicts spends its time
(bench/backfill_copy.py, bench/backfill_states.py). The rows and their children are read in one
``REPEATABLE READ`` transaction, so the children are those of the rows as read. On SQLite the same
text is encoded in Python from the rows, and psycopg (imported where a page is composed, some
10 MiB) is never loaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db import connection, models, transaction

if TYPE_CHECKING:
    from psycopg import sql

from protocol.copy_text import encode_rows, join_page


@dataclass(frozen=True)
class Children:
    """An aggregate's child rows: their model, columns and the column naming the parent."""

    model: type[models.Model]
    columns: tuple[str, ...]
    parent: str


@dataclass(frozen=True)
class KeysetPage:
    """Pages of ``model`` in ``key`` order (byte order: the key's collation is "C", or UUIDs),
    ``columns`` in the contract's order, and the child rows if the aggregate has some."""

    model: type[models.Model]
    columns: tuple[str, ...]
    key: str
    children: Children | None = None

    def copy_bytes(self, *, after_key: str | None, limit: int, end_key: str | None = None) -> bytes:
        """The rows with ``key > after_key`` (and ``<= end_key``, the end of a backfill range),
        at most ``limit``, as the UTF-8 COPY text the server wrote (no string built); with
        their child rows after the mark (``protocol.copy_text.join_page``)."""
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        if connection.vendor != "postgresql":
            return self._encoded(after_key=after_key, limit=limit, end_key=end_key)
        from psycopg import sql

        page = self._query(self.columns, after_key=after_key, limit=limit, end_key=end_key)
        if self.children is None:
            return _copy_out(page)
        kids = self.children
        keys = self._query((self.key,), after_key=after_key, limit=limit, end_key=end_key)
        of_page = sql.SQL("SELECT {columns} FROM {table} WHERE {parent} IN ({keys})").format(
            columns=sql.SQL(", ").join(map(sql.Identifier, kids.columns)),
            table=sql.Identifier(kids.model._meta.db_table),
            parent=sql.Identifier(kids.parent),
            keys=keys,
        )
        # One snapshot for both reads (inside a caller's transaction, its own rules).
        own_transaction = not connection.in_atomic_block
        with transaction.atomic():
            if own_transaction:
                with connection.cursor() as cursor:
                    cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            return join_page(_copy_out(page), _copy_out(of_page))

    def range_ends(self, parts: int) -> list[str]:
        """Keys that split the rows into ``parts`` runs of about equal size (a backfill's key
        ranges): the last key of each run but the last; fewer when there are fewer rows. One
        pass over the keys (an index-only scan), so it holds whatever the keys look like
        (the seeded ids are not spread over the UUID space as random ones are)."""
        if parts < 2:
            return []
        quote = connection.ops.quote_name
        key, table = quote(self.key), quote(self.model._meta.db_table)
        # The rows whose next row falls in the next run: the last key of every run but the last.
        query = (
            f"SELECT {key} FROM (SELECT {key}, part, lead(part) OVER (ORDER BY {key}) AS next "
            f"FROM (SELECT {key}, ntile(%s) OVER (ORDER BY {key}) AS part FROM {table}) AS runs"
            f") AS edges WHERE next <> part ORDER BY {key}"
        )
        with connection.cursor() as cursor:
            cursor.execute(query, [parts])
            ends = [row[0] for row in cursor.fetchall()]
        field = self.model._meta.get_field(self.key)
        assert isinstance(field, models.Field)
        return [str(field.to_python(end)) for end in ends]

    def _query(
        self, columns: tuple[str, ...], *, after_key: str | None, limit: int, end_key: str | None
    ) -> sql.Composed:
        from psycopg import sql

        key = sql.Identifier(self.key)
        clauses = []
        if after_key is not None:
            clauses.append(sql.SQL("{} > {}").format(key, sql.Literal(after_key)))
        if end_key is not None:
            clauses.append(sql.SQL("{} <= {}").format(key, sql.Literal(end_key)))
        where = sql.SQL("WHERE ") + sql.SQL(" AND ").join(clauses) if clauses else sql.SQL("")
        return sql.SQL("SELECT {columns} FROM {table} {where} ORDER BY {key} LIMIT {limit}").format(
            columns=sql.SQL(", ").join(map(sql.Identifier, columns)),
            table=sql.Identifier(self.model._meta.db_table),
            where=where,
            key=key,
            limit=sql.Literal(limit),
        )

    def _encoded(self, *, after_key: str | None, limit: int, end_key: str | None) -> bytes:
        rows: Any = self.model._default_manager.order_by(self.key)
        if after_key is not None:
            rows = rows.filter(**{f"{self.key}__gt": after_key})
        if end_key is not None:
            rows = rows.filter(**{f"{self.key}__lte": end_key})
        values = list(rows.values_list(*self.columns)[:limit])
        text = encode_rows(values).encode()
        if self.children is None:
            return text
        kids = self.children
        key_at = self.columns.index(self.key)
        of_page = kids.model._default_manager.filter(
            **{f"{kids.parent}__in": [row[key_at] for row in values]}
        )
        return join_page(text, encode_rows(of_page.values_list(*kids.columns)).encode())


def _copy_out(query: sql.Composable) -> bytes:
    from psycopg import sql

    connection.ensure_connection()
    chunks: list[bytes] = []
    # Django's session runs in UTC, so timestamps come out as "... +00".
    copy_query = sql.SQL("COPY ({}) TO STDOUT").format(query)
    with connection.connection.cursor() as cursor, cursor.copy(copy_query) as copy:
        for chunk in copy:
            chunks.append(bytes(chunk))
    return b"".join(chunks)
