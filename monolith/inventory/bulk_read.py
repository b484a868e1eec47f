"""The backfill's bulk reader: one keyset page of products as COPY text (contracts.copy_text).

On PostgreSQL the server writes the page itself (``COPY (SELECT ...) TO STDOUT``): no model
instance, no dict and no JSON per row, which is where a JSON page spends its time (measured in
bench/backfill_copy.py). On SQLite the same text is encoded in Python from the rows.
"""

from __future__ import annotations

from django.db import connection
from psycopg import sql

from contracts.copy_text import PRODUCT_COPY_COLUMNS, encode_rows
from monolith.inventory.models import Product


def _check_limit(limit: int) -> None:
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")


def product_page_copy_text(*, after_key: str | None, limit: int, end_key: str | None = None) -> str:
    """Products with ``sku > after_key`` (and ``<= end_key``, the end of a backfill range) in
    byte order, at most ``limit``, as COPY text."""
    return product_page_copy_bytes(after_key=after_key, limit=limit, end_key=end_key).decode()


def product_page_copy_bytes(
    *, after_key: str | None, limit: int, end_key: str | None = None
) -> bytes:
    """``product_page_copy_text`` as the UTF-8 bytes the server wrote (no string built)."""
    _check_limit(limit)
    if connection.vendor != "postgresql":
        rows = Product.objects.order_by("sku")
        if after_key is not None:
            rows = rows.filter(sku__gt=after_key)
        if end_key is not None:
            rows = rows.filter(sku__lte=end_key)
        values = rows.values_list(*PRODUCT_COPY_COLUMNS)[:limit]
        return encode_rows(values).encode()
    table = Product._meta.db_table
    columns = sql.SQL(", ").join(map(sql.Identifier, PRODUCT_COPY_COLUMNS))
    # The sku column's collation is "C" (byte order), as the keyset needs.
    clauses = []
    if after_key is not None:
        clauses.append(sql.SQL("sku > {}").format(sql.Literal(after_key)))
    if end_key is not None:
        clauses.append(sql.SQL("sku <= {}").format(sql.Literal(end_key)))
    where = sql.SQL("WHERE ") + sql.SQL(" AND ").join(clauses) if clauses else sql.SQL("")
    query = sql.SQL(
        "COPY (SELECT {columns} FROM {table} {where} ORDER BY sku LIMIT {limit}) TO STDOUT"
    ).format(columns=columns, table=sql.Identifier(table), where=where, limit=sql.Literal(limit))
    connection.ensure_connection()
    chunks: list[bytes] = []
    # Django's session runs in UTC, so timestamps come out as "... +00".
    with connection.connection.cursor() as cursor, cursor.copy(query) as copy:
        for chunk in copy:
            chunks.append(bytes(chunk))
    return b"".join(chunks)
