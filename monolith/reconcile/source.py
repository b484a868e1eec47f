"""Range checksums, bounds and canonical rows of a monolith aggregate, computed in the monolith's
own database (the shared queries of protocol.reconcile_sql on Django's connection), and the
current state of given rows for a repair. An app describes each aggregate it reconciles with a
``SourceAggregate`` (``monolith/<app>/reconcile.py``)."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import Model, QuerySet

from protocol.reconcile_spec import AggregateSpec, Kind
from protocol.reconcile_sql import Answers, Dialect, Queries, Query, Storage


@dataclass(frozen=True)
class SourceAggregate:
    spec: AggregateSpec
    storage: Storage
    #: The aggregate's rows, with their child rows prefetched (the key is the spec's).
    rows: QuerySet[Any]
    #: A row's state as its outbox events carry it (``contracts.events``, a JSON dict).
    state: Callable[[Any], dict[str, Any]]

    def states(self, keys: list[str]) -> list[dict[str, Any]]:
        """The current state of each existing row among ``keys`` (canonical keys), by key."""
        key = self.spec.key
        values: list[Any] = [
            uuid.UUID(self.spec.check_key(k)) if key.kind is Kind.UUID else self.spec.check_key(k)
            for k in keys
        ]
        found = self.rows.filter(**{f"{key.name}__in": values}).order_by(key.name)
        return [self.state(row) for row in found]


def storage_of(model: type[Model], children: type[Model] | None = None) -> Storage:
    """Where Django keeps ``model`` (and its child rows): the tables its migrations made."""
    return Storage(model._meta.db_table, None if children is None else children._meta.db_table)


def _ph(name: str) -> str:
    return f"%({name})s"


def _dialect() -> Dialect:
    if connection.vendor not in ("postgresql", "sqlite"):
        raise NotImplementedError(f"no reconciliation for {connection.vendor!r}")
    return "postgresql" if connection.vendor == "postgresql" else "sqlite"


def _execute(query: Query) -> list[Any]:
    with connection.cursor() as cursor:
        cursor.execute(query.sql, query.params)
        return list(cursor.fetchall())


def _sqlite_connection() -> sqlite3.Connection:
    connection.ensure_connection()
    raw = connection.connection
    assert isinstance(raw, sqlite3.Connection)
    return raw


def answers(aggregate: SourceAggregate) -> Answers:
    """The aggregate's bounds, checksums and rows on the monolith's connection."""
    queries = Queries(aggregate.spec, aggregate.storage, _dialect(), _ph)
    return Answers(queries, _execute, _sqlite_connection)
