"""A service's ``/internal/reconcile/<aggregate>/...`` as the in-process tests call it (with a
client that sends the sync token: the ``internal`` fixture), and the same answers computed
straight on another session (the SQLite copy of a PostgreSQL test)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from contracts.reconcile import ChecksumsRequest, ReconciliationReport, RowsRequest
from extracted.chassis.sync import reconcile
from extracted.chassis.sync.reconcile import OwnedAggregate
from extracted.chassis.web.db import make_engine, make_sessions
from tests.extracted.asgi_client import BlockingASGIClient


def canonical_rows(client: BlockingASGIClient, aggregate: str) -> dict[str, dict[str, Any]]:
    """Every row's ``{"key", "version", "text"}`` by key."""
    answer = client.post(f"/internal/reconcile/{aggregate}/rows", json={})
    assert answer.status_code == 200, answer.text
    return {row["key"]: row for row in answer.json()["rows"]}


def post_repair(
    client: BlockingASGIClient,
    aggregate: str,
    states: list[dict[str, Any]],
    *,
    observed: dict[str, int | None] | None = None,
    extra: dict[str, int] | None = None,
) -> dict[str, int]:
    answer = client.post(
        f"/internal/reconcile/{aggregate}/repair",
        json={"states": states, "observed": observed or {}, "extra": extra or {}},
    )
    assert answer.status_code == 200, answer.text
    result: dict[str, int] = answer.json()
    return result


def answers_on(
    sessions: sessionmaker[Session], owned: OwnedAggregate[Any], bounds: list[str]
) -> tuple[Any, Any]:
    """(rows, checksums over ``bounds``) of ``owned`` computed on ``sessions``' database."""
    with sessions() as session:
        answers = reconcile.answers(session, owned)
        rows = answers.rows(RowsRequest())
        sums = answers.checksums(ChecksumsRequest(bounds=bounds))
    return rows.model_dump(), sums.model_dump()


def clean_report(aggregate: str, rows: int) -> dict[str, Any]:
    """A run that found the tables equal, as the driver posts it to ``runs``."""
    now = datetime.now(UTC)
    return ReconciliationReport(
        aggregate=aggregate,
        started_at=now,
        finished_at=now,
        source_rows=rows,
        target_rows=rows,
        missing=[],
        extra=[],
        different=[],
        requests=3,
    ).model_dump(mode="json")


@contextmanager
def sqlite_sessions(path: Path, upgrade: Callable[[str], None]) -> Iterator[sessionmaker[Session]]:
    """Sessions on a fresh SQLite file (the embedded mode) migrated by the service's ``upgrade``."""
    url = f"sqlite:///{path}"
    upgrade(url)
    engine = make_engine(url)
    try:
        yield make_sessions(engine)
    finally:
        engine.dispose()
