"""A service's side of reconciliation, the same for every owner: range checksums, bounds and
canonical rows of an aggregate computed in the service's own database (the queries of
protocol.reconcile_sql over SQLAlchemy), the repair of drifted rows through the owner's own
upsert, and the record of each run (a ``reconciliation_runs`` table per service).

Each service describes what it owns with an ``OwnedAggregate`` per reconciled aggregate: the
spec (protocol.reconcile_spec), its tables, the state model the monolith sends
(contracts.events), and its upsert, the very function its event subscriber writes with.

Repair keeps that upsert's rule with one twist. Normally a row is written only where it is newer
(compare-and-set on ``version``), but a row corrupted behind sync's back may carry a version as
high as the source's or higher, and compare-and-set would keep the corruption forever. So a
drifted row that **still holds the exact version reconciliation saw** (``observed``) is deleted
first (its child rows go with it: the owners' foreign keys cascade) and the upsert then writes
the source's state as a missing row: the override is limited to that row in that state. If a
live event moved the row on since (another version), the upsert decides as it always does: the
source's state is written only if newer, else the row is left alone (that event carried the
source's state anyway). An extra row (the source has none) is deleted under the same condition.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy import BigInteger, Integer, String, Table, delete, func, select, text
from sqlalchemy.orm import Mapped, Session, mapped_column
from sqlalchemy.types import JSON

from contracts.reconcile import ReconciliationReport, RepairRequest, RepairResult
from extracted.chassis.db_types import UTCDateTime
from extracted.chassis.sync.subscriber import SyncInputError
from extracted.chassis.timefmt import utcnow
from protocol.reconcile_spec import AggregateSpec, Kind
from protocol.reconcile_sql import Answers, Dialect, Queries, Query, Storage

S = TypeVar("S", bound=BaseModel)


class ReconciliationRunColumns:
    """Declarative mixin: ``class ReconciliationRun(ReconciliationRunColumns, Base)`` with
    ``__tablename__ = "reconciliation_runs"``. One finished ``strangler sync reconcile`` run of
    one aggregate, as its driver reported it (``GET /internal/sync/stats`` shows the last ones)."""

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    aggregate: Mapped[str] = mapped_column(String(32))
    finished_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: The drift summary and report (contracts.reconcile.ReconciliationReport).
    report: Mapped[dict[str, Any]] = mapped_column(JSON)


@dataclass(frozen=True)
class OwnedAggregate(Generic[S]):
    spec: AggregateSpec
    table: Table
    #: The table of the child rows (the spec's ``children``), if any.
    child_table: Table | None
    #: The state the monolith sends for a row (``contracts.events``).
    state: type[S]
    #: The owner's upsert: writes each state whose row is missing here or older, in the
    #: caller's transaction; how many it wrote.
    write: Callable[[Session, list[S]], int]
    #: Spec field name -> column, where this service names it otherwise.
    columns: dict[str, str] = field(default_factory=dict)

    @property
    def storage(self) -> Storage:
        child = None if self.child_table is None else self.child_table.name
        return Storage(self.table.name, child_table=child, columns=self.columns)

    def key_value(self, key: str) -> Any:
        """A canonical key as the key column's type binds it."""
        self.spec.check_key(key)
        return uuid.UUID(key) if self.spec.key.kind is Kind.UUID else key

    def key_of(self, state: S) -> str:
        return self.spec.canonical_key(getattr(state, self.spec.key.name))


def _ph(name: str) -> str:
    return f":{name}"


def _dialect(session: Session) -> Dialect:
    name = session.get_bind().dialect.name
    if name not in ("postgresql", "sqlite"):
        raise NotImplementedError(f"no reconciliation for dialect {name!r}")
    return name  # type: ignore[return-value]


def answers(session: Session, owned: OwnedAggregate[Any]) -> Answers:
    """The aggregate's bounds, checksums and rows on ``session``'s connection."""
    queries = Queries(owned.spec, owned.storage, _dialect(session), _ph)

    def execute(query: Query) -> list[Any]:
        return list(session.execute(text(query.sql), query.params).all())

    def sqlite_connection() -> sqlite3.Connection:
        raw = session.connection().connection.driver_connection
        assert isinstance(raw, sqlite3.Connection)
        return raw

    return Answers(queries, execute, sqlite_connection)


def _delete_at(session: Session, owned: OwnedAggregate[Any], key: str, version: int) -> bool:
    """Delete the row ``key`` (and, by the cascade, its child rows) if it holds ``version``."""
    table = owned.table
    key_column = table.c[owned.storage.column(owned.spec.key.name)]
    version_column = table.c[owned.storage.column("version")]
    gone = session.execute(
        delete(table)
        .where(key_column == owned.key_value(key), version_column == version)
        .returning(key_column)
    ).first()
    return gone is not None


def repair(session: Session, owned: OwnedAggregate[S], request: RepairRequest) -> RepairResult:
    """Write the source's states of drifted rows and delete extra rows (see the module's
    docstring for when a row is overwritten). The caller owns the transaction."""
    name = owned.spec.name
    try:
        states = [owned.state.model_validate(state) for state in request.states]
        for key in [*request.observed, *request.extra]:
            owned.spec.check_key(key)
    except ValidationError as exc:
        raise SyncInputError(f"invalid {name} states: {exc}") from None
    except ValueError as exc:
        raise SyncInputError(str(exc)) from None
    for state in states:
        seen = request.observed.get(owned.key_of(state))
        if seen is not None:
            _delete_at(session, owned, owned.key_of(state), seen)
    written = owned.write(session, states) if states else 0
    skipped = len(states) - written
    deleted = 0
    for key, version in sorted(request.extra.items()):
        if _delete_at(session, owned, key, version):
            deleted += 1
        else:
            skipped += 1
    return RepairResult(written=written, deleted=deleted, skipped=skipped)


R = TypeVar("R", bound=ReconciliationRunColumns)


def record_run(session: Session, model: type[R], report: ReconciliationReport) -> None:
    session.add(
        model(  # type: ignore[call-arg]  # the mapped subclass takes the columns
            aggregate=report.aggregate,
            finished_at=utcnow(),
            report=report.model_dump(mode="json"),
        )
    )


def _summary(report: ReconciliationReport) -> dict[str, Any]:
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


def last_runs(session: Session, model: type[R]) -> dict[str, dict[str, Any]]:
    """The last run of each aggregate, summarised (``clean``, ``drift``, ...), by aggregate."""
    latest = select(func.max(model.id)).group_by(model.aggregate)
    found = session.scalars(select(model).where(model.id.in_(latest)).order_by(model.aggregate))
    return {
        run.aggregate: _summary(ReconciliationReport.model_validate(run.report)) for run in found
    }


def last_run(session: Session, model: type[R]) -> dict[str, Any] | None:
    """The last run of any aggregate, summarised, or None."""
    run = session.scalars(select(model).order_by(model.id.desc()).limit(1)).first()
    return None if run is None else _summary(ReconciliationReport.model_validate(run.report))


def reconciliation_stats(session: Session, model: type[R]) -> dict[str, Any]:
    """The reconciliation keys of ``GET /internal/sync/stats``: ``last_reconciliation`` (the
    last run, whatever its aggregate; null: never ran) and ``reconciliations`` (the last run of
    each aggregate)."""
    return {
        "last_reconciliation": last_run(session, model),
        "reconciliations": last_runs(session, model),
    }
