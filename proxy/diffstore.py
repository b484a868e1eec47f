"""The persistent store of shadow mismatches (SQLAlchemy 2 core; SQLite or PostgreSQL).

Every call here blocks; the proxy makes them from one worker thread (:class:`DiffStore` owns it),
never from the event loop. One writer thread also keeps SQLite free of lock contention.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

P = ParamSpec("P")
T = TypeVar("T")

metadata = sa.MetaData()

mismatches = sa.Table(
    "proxy_shadow_mismatches",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    # Naive UTC on every backend (SQLite keeps no zone).
    sa.Column("at", sa.DateTime(), nullable=False, index=True),
    sa.Column("route", sa.String(64), nullable=False, index=True),
    sa.Column("method", sa.String(16), nullable=False),
    sa.Column("path", sa.Text, nullable=False),
    sa.Column("request_headers", sa.JSON, nullable=False),
    sa.Column("request_body", sa.LargeBinary, nullable=False),
    sa.Column("expected_status", sa.Integer, nullable=False),
    sa.Column("expected_headers", sa.JSON, nullable=False),
    sa.Column("expected_body", sa.LargeBinary, nullable=False),
    sa.Column("actual_status", sa.Integer, nullable=False),
    sa.Column("actual_headers", sa.JSON, nullable=False),
    sa.Column("actual_body", sa.LargeBinary, nullable=False),
    sa.Column("differences", sa.JSON, nullable=False),
    sa.Column("rules", sa.JSON, nullable=False),
)


@dataclass(frozen=True)
class Mismatch:
    route: str
    method: str
    path: str
    request_headers: Mapping[str, str]
    request_body: bytes
    expected_status: int
    expected_headers: Mapping[str, str]
    expected_body: bytes
    actual_status: int
    actual_headers: Mapping[str, str]
    actual_body: bytes
    differences: list[dict[str, Any]]
    rules: dict[str, Any]
    at: datetime


def engine_for(url: str) -> Engine:
    """An engine for ``url``; plain ``postgresql://`` URLs use psycopg 3 (the installed driver)."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.drivername.startswith("sqlite") and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    return sa.create_engine(parsed, pool_pre_ping=True)


def _naive_utc(moment: datetime) -> datetime:
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def _text(body: bytes) -> str:
    return body.decode("utf-8", errors="replace")


def _row_dict(row: sa.Row[Any]) -> dict[str, Any]:
    return {
        "id": row.id,
        "at": row.at.replace(tzinfo=UTC).isoformat().replace("+00:00", "Z"),
        "route": row.route,
        "method": row.method,
        "path": row.path,
        "request": {"headers": row.request_headers, "body": _text(row.request_body)},
        "expected": {
            "status": row.expected_status,
            "headers": row.expected_headers,
            "body": _text(row.expected_body),
        },
        "actual": {
            "status": row.actual_status,
            "headers": row.actual_headers,
            "body": _text(row.actual_body),
        },
        "differences": row.differences,
        "rules": row.rules,
    }


class DiffStore:
    """Mismatch rows, written and read on a dedicated thread."""

    def __init__(self, url: str) -> None:
        self.engine = engine_for(url)
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="diffstore")

    # -- blocking API (any thread) -------------------------------------------------------------
    def create_schema(self) -> None:
        metadata.create_all(self.engine)

    def add(self, mismatch: Mismatch) -> None:
        values = {
            "at": _naive_utc(mismatch.at),
            "route": mismatch.route,
            "method": mismatch.method,
            "path": mismatch.path,
            "request_headers": dict(mismatch.request_headers),
            "request_body": mismatch.request_body,
            "expected_status": mismatch.expected_status,
            "expected_headers": dict(mismatch.expected_headers),
            "expected_body": mismatch.expected_body,
            "actual_status": mismatch.actual_status,
            "actual_headers": dict(mismatch.actual_headers),
            "actual_body": mismatch.actual_body,
            "differences": mismatch.differences,
            "rules": mismatch.rules,
        }
        with self.engine.begin() as conn:
            conn.execute(mismatches.insert().values(**values))

    def list(
        self, *, route: str | None = None, since: datetime | None = None, limit: int = 50
    ) -> tuple[int, list[dict[str, Any]]]:
        """``(total matching, newest first up to limit)``."""
        where = []
        if route is not None:
            where.append(mismatches.c.route == route)
        if since is not None:
            where.append(mismatches.c.at >= _naive_utc(since))
        count_q = sa.select(sa.func.count()).select_from(mismatches).where(*where)
        rows_q = (
            sa.select(mismatches)
            .where(*where)
            .order_by(mismatches.c.at.desc(), mismatches.c.id.desc())
            .limit(limit)
        )
        with self.engine.connect() as conn:
            total = conn.execute(count_q).scalar_one()
            rows = [_row_dict(row) for row in conn.execute(rows_q)]
        return int(total), rows

    # -- from the event loop -------------------------------------------------------------------
    async def run(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a blocking call of this store on its thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, functools.partial(fn, *args, **kwargs))

    def close(self) -> None:
        self._thread.shutdown(wait=True)
        self.engine.dispose()
