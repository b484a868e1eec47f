"""Inserting many rows of a model at once, as fast as the database allows: ``COPY ... FROM
STDIN`` through psycopg 3 on PostgreSQL, ``bulk_create`` anywhere else (SQLite, embedded mode).

Rows are plain tuples in the order of the attribute names given, already valid (no model
validation, no signals, no ``save()``): this is for seeding, where the caller builds every row
and the events describing it in the same transaction. A ``JSONField`` value is passed as JSON
text (what ``COPY`` sends as is); other databases get it parsed back.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from django.db import connection, models
from django.db.models import JSONField


def insert_rows(
    model: type[models.Model], attnames: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> int:
    """Insert ``rows`` (tuples of ``attnames`` values) into ``model``'s table; returns how many.
    Must run inside the caller's transaction (``transaction.atomic()``) like any other write."""
    if not rows:
        return 0
    fields = [model._meta.get_field(name) for name in attnames]
    if connection.vendor == "postgresql":
        _copy(model._meta.db_table, [f.column for f in fields if isinstance(f, models.Field)], rows)
    else:
        json_at = [i for i, f in enumerate(fields) if isinstance(f, JSONField)]
        instances = []
        for row in rows:
            values = list(row)
            for i in json_at:
                if isinstance(values[i], str):
                    values[i] = json.loads(values[i])
            instances.append(model(**dict(zip(attnames, values, strict=True))))
        model._default_manager.bulk_create(instances, batch_size=500)
    return len(rows)


def _copy(table: str, columns: list[str], rows: Sequence[tuple[Any, ...]]) -> None:
    quote = connection.ops.quote_name
    sql = f"COPY {quote(table)} ({', '.join(quote(c) for c in columns)}) FROM STDIN"
    with connection.cursor() as cursor:
        raw = cursor.cursor  # psycopg 3's own cursor under Django's wrapper
        with raw.copy(sql) as copy:
            for row in rows:
                copy.write_row(row)
