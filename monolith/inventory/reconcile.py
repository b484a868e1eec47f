"""The monolith's side of reconciliation: range checksums of its products computed in its own
database (the shared queries of contracts.reconcile_sql on Django's connection), and the current
state of given rows for a repair."""

from __future__ import annotations

import sqlite3
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
from contracts.reconcile_sql import (
    Dialect,
    Query,
    Runner,
    answer_bounds,
    answer_checksums,
    answer_rows,
    register_sqlite_functions,
)
from monolith.inventory.models import Product
from monolith.inventory.states import product_state

TABLE = Product._meta.db_table


def _ph(name: str) -> str:
    return f"%({name})s"


def _dialect() -> Dialect:
    if connection.vendor not in ("postgresql", "sqlite"):
        raise NotImplementedError(f"no reconciliation for {connection.vendor!r}")
    return "postgresql" if connection.vendor == "postgresql" else "sqlite"


def _runner(bounds: list[str] | None = None) -> Runner:
    connection.ensure_connection()
    if _dialect() == "sqlite":
        raw = connection.connection
        assert isinstance(raw, sqlite3.Connection)
        register_sqlite_functions(raw, bounds or [])

    def run(query: Query) -> list[Any]:
        with connection.cursor() as cursor:
            cursor.execute(query.sql, query.params)
            return list(cursor.fetchall())

    return run


def bounds(request: BoundsRequest) -> BoundsResponse:
    return answer_bounds(_runner(), _dialect(), TABLE, request, _ph)


def checksums(request: ChecksumsRequest) -> ChecksumsResponse:
    return answer_checksums(_runner(request.bounds), _dialect(), TABLE, request, _ph)


def rows(request: RowsRequest) -> RowsResponse:
    return answer_rows(_runner(), _dialect(), TABLE, request, _ph)


def product_states(keys: list[str]) -> list[dict[str, Any]]:
    """The current ``ProductState`` of each existing product among ``keys``, by sku."""
    return [product_state(p) for p in Product.objects.filter(sku__in=keys).order_by("sku")]
