"""The service's side of reconciliation: range checksums of its products computed in its own
database (the queries of contracts.reconcile_sql), the repair of drifted rows, and the record of
the last run.

Repair goes through the owner's upsert with one twist. Normally a row is written only where it
is newer (compare-and-set on ``version``), but a row corrupted behind sync's back may carry a
version as high as the source's or higher, and CAS would keep the corruption forever. So a
repaired row is also overwritten when it **still holds the exact version reconciliation saw**
(``observed``): the override is limited to that row in that state. If a live event moved the row
on since (a newer version), the repair leaves it: that event carried the source's state. An extra
row (the source has none) is deleted under the same condition.
"""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import Table, delete, select, text
from sqlalchemy.orm import Session

from contracts.events import ProductState
from contracts.reconcile import (
    BoundsRequest,
    BoundsResponse,
    ChecksumsRequest,
    ChecksumsResponse,
    ReconciliationReport,
    RepairRequest,
    RepairResult,
    RowsRequest,
    RowsResponse,
)
from contracts.reconcile_sql import (
    Dialect,
    Query,
    answer_bounds,
    answer_checksums,
    answer_rows,
    register_sqlite_functions,
)
from extracted.chassis.timefmt import as_utc, utcnow
from extracted.inventory.models import Product, ReconciliationRun
from extracted.inventory.sync import SyncInputError, _insert

TABLE = "products"
_products: Table = Product.__table__  # type: ignore[assignment]


def _ph(name: str) -> str:
    return f":{name}"


def _dialect(session: Session) -> Dialect:
    name = session.get_bind().dialect.name
    if name not in ("postgresql", "sqlite"):
        raise NotImplementedError(f"no reconciliation for dialect {name!r}")
    return name  # type: ignore[return-value]


def _runner(session: Session, bounds: list[str] | None = None) -> Any:
    dialect = _dialect(session)
    if dialect == "sqlite":
        raw = session.connection().connection.driver_connection
        assert isinstance(raw, sqlite3.Connection)
        register_sqlite_functions(raw, bounds or [])

    def run(query: Query) -> list[Any]:
        return list(session.execute(text(query.sql), query.params).all())

    return run


def bounds(session: Session, request: BoundsRequest) -> BoundsResponse:
    return answer_bounds(_runner(session), _dialect(session), TABLE, request, _ph)


def checksums(session: Session, request: ChecksumsRequest) -> ChecksumsResponse:
    run = _runner(session, request.bounds)
    return answer_checksums(run, _dialect(session), TABLE, request, _ph)


def rows(session: Session, request: RowsRequest) -> RowsResponse:
    return answer_rows(_runner(session), _dialect(session), TABLE, request, _ph)


def _product_values(state: ProductState) -> dict[str, Any]:
    return {
        "sku": state.sku,
        "name": state.name,
        "price": Decimal(state.price),
        "on_hand": state.on_hand,
        "reserved": state.reserved,
        "version": state.version,
        "created_at": as_utc(state.created_at),
        "updated_at": as_utc(state.updated_at),
    }


def repair(session: Session, request: RepairRequest) -> RepairResult:
    """Write the source's states of drifted rows and delete extra rows (see the module's
    docstring for when a row is overwritten). The caller owns the transaction."""
    try:
        states = TypeAdapter(list[ProductState]).validate_python(request.states)
    except ValidationError as exc:
        raise SyncInputError(f"invalid product states: {exc}") from None
    written = deleted = skipped = 0
    for state in states:
        stmt = _insert(session, _products).values(**_product_values(state))
        newer = _products.c.version < stmt.excluded.version
        seen = request.observed.get(state.sku)
        guard = newer if seen is None else newer | (_products.c.version == seen)
        stmt = stmt.on_conflict_do_update(
            index_elements=["sku"],
            set_={c: stmt.excluded[c] for c in _product_values(state) if c != "sku"},
            where=guard,
        ).returning(_products.c.sku)
        if session.scalar(stmt) is None:
            skipped += 1
        else:
            written += 1
    for sku, version in request.extra.items():
        gone = session.execute(
            delete(_products)
            .where(_products.c.sku == sku, _products.c.version == version)
            .returning(_products.c.sku)
        ).first()
        if gone is None:
            skipped += 1
        else:
            deleted += 1
    return RepairResult(written=written, deleted=deleted, skipped=skipped)


def record_run(session: Session, report: ReconciliationReport) -> None:
    session.add(
        ReconciliationRun(
            aggregate=report.aggregate,
            finished_at=utcnow(),
            report=report.model_dump(mode="json"),
        )
    )


def last_run(session: Session) -> dict[str, Any] | None:
    """The last run's report with its summary (``clean``, ``drift``), or None."""
    run = session.scalars(
        select(ReconciliationRun).order_by(ReconciliationRun.id.desc()).limit(1)
    ).first()
    if run is None:
        return None
    report = ReconciliationReport.model_validate(run.report)
    counts = report.drift_counts
    return {
        "aggregate": report.aggregate,
        "finished_at": report.finished_at.isoformat().replace("+00:00", "Z"),
        "clean": report.clean,
        "drift": report.drift,
        "missing": counts.missing,
        "extra": counts.extra,
        "different": counts.different,
        "repaired": report.repair is not None,
        "clean_after_repair": report.clean_after_repair,
    }
