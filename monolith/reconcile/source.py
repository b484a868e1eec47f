"""Range checksums, bounds and canonical rows of a monolith aggregate, computed in the monolith's
own database (the shared queries of contracts.reconcile_sql on Django's connection), and the
current state of given rows for a repair. An app describes its aggregate with a
``SourceAggregate`` (``monolith/<app>/reconcile.py``)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import connection

from contracts.reconcile import (
    BoundsRequest,
    BoundsResponse,
    ChecksumsRequest,
    ChecksumsResponse,
    RowsRequest,
    RowsResponse,
)
from contracts.reconcile_spec import AggregateSpec
from contracts.reconcile_sql import (
    Dialect,
    Queries,
    Query,
    Runner,
    Storage,
    answer_bounds,
    answer_checksums,
    answer_rows,
    register_sqlite_functions,
    sqlite_bounds,
)


@dataclass(frozen=True)
class SourceAggregate:
    spec: AggregateSpec
    storage: Storage
    #: The current state (``contracts.events`` dicts) of the rows among these canonical keys
    #: that exist, as the outbox events carry it.
    states: Callable[[list[str]], list[dict[str, Any]]]


def _ph(name: str) -> str:
    return f"%({name})s"


def _dialect() -> Dialect:
    if connection.vendor not in ("postgresql", "sqlite"):
        raise NotImplementedError(f"no reconciliation for {connection.vendor!r}")
    return "postgresql" if connection.vendor == "postgresql" else "sqlite"


def _queries(aggregate: SourceAggregate) -> Queries:
    return Queries(aggregate.spec, aggregate.storage, _dialect(), _ph)


def _runner(queries: Queries, bounds: list[str] | None = None) -> Runner:
    connection.ensure_connection()
    if queries.dialect == "sqlite":
        raw = connection.connection
        assert isinstance(raw, sqlite3.Connection)
        register_sqlite_functions(raw, queries.spec, sqlite_bounds(queries, bounds or []))

    def run(query: Query) -> list[Any]:
        with connection.cursor() as cursor:
            cursor.execute(query.sql, query.params)
            return list(cursor.fetchall())

    return run


def bounds(aggregate: SourceAggregate, request: BoundsRequest) -> BoundsResponse:
    queries = _queries(aggregate)
    return answer_bounds(_runner(queries), queries, request)


def checksums(aggregate: SourceAggregate, request: ChecksumsRequest) -> ChecksumsResponse:
    queries = _queries(aggregate)
    return answer_checksums(_runner(queries, request.bounds), queries, request)


def rows(aggregate: SourceAggregate, request: RowsRequest) -> RowsResponse:
    queries = _queries(aggregate)
    return answer_rows(_runner(queries), queries, request)


def states(aggregate: SourceAggregate, keys: list[str]) -> list[dict[str, Any]]:
    """The current state of each existing row among ``keys`` (canonical keys)."""
    for key in keys:
        aggregate.spec.check_key(key)
    return aggregate.states(keys)
