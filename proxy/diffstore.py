"""The persistent store of shadow mismatches (SQLAlchemy 2 core; SQLite or PostgreSQL).

Every call here blocks; the proxy makes them from one worker thread (:class:`DiffStore` owns it),
never from the event loop. One writer thread also keeps SQLite free of lock contention.

A row holds the request (method, path, query, headers with credentials redacted, body), both
answers (status, headers, body), the route and target, the rules applied, the differences and
the sync lag when the copy was compared (``null`` when unknown). It also keeps the requests a
route records for replay (``proxy_recordings``, the newest ``max_requests`` per route, redacted
before they get here: proxy/recording.py). :meth:`DiffStore.create_schema`
runs at every start: it creates the table and adds the columns later versions introduced
(nullable, so older rows stay valid) — idempotent, and serialised by an advisory lock on
PostgreSQL so two proxies starting together do not race.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Mapping, Sequence
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
    #: The path only (rows from before the ``query`` column kept the query string here).
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
    # Added after the first version: nullable, added by create_schema to existing tables.
    sa.Column("query", sa.Text, nullable=True),
    sa.Column("target", sa.String(64), nullable=True),
    sa.Column("sync_lag_s", sa.Float, nullable=True),
)

recordings = sa.Table(
    "proxy_recordings",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.DateTime(), nullable=False),
    sa.Column("route", sa.String(64), nullable=False, index=True),
    sa.Column("method", sa.String(16), nullable=False),
    sa.Column("path", sa.Text, nullable=False),
    sa.Column("query", sa.Text, nullable=False),
    #: ``[[name, value], ...]`` in the order sent, redacted (proxy/recording.py).
    sa.Column("headers", sa.JSON, nullable=False),
    sa.Column("body", sa.LargeBinary, nullable=False),
    #: False: the body was not JSON and was not kept.
    sa.Column("body_kept", sa.Boolean, nullable=False),
    #: The status the client got.
    sa.Column("status", sa.Integer, nullable=False),
)

#: Taken while creating / migrating the schema on PostgreSQL (an arbitrary constant).
_SCHEMA_LOCK = 0x5354524E  # "STRN"


@dataclass(frozen=True)
class Recording:
    """A live request kept for replay, already redacted."""

    route: str
    method: str
    path: str
    query: str
    headers: list[tuple[str, str]]
    body: bytes
    body_kept: bool
    status: int
    at: datetime


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
    #: The raw query string, without ``?`` ("" when there is none).
    query: str = ""
    #: The upstream that answered ``actual``.
    target: str | None = None
    #: Seconds the sync was behind when the copy was compared; None when unknown.
    sync_lag_s: float | None = None


@dataclass(frozen=True)
class MismatchFilter:
    """Which stored mismatches to list (every field optional)."""

    route: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    expected_status: int | None = None
    actual_status: int | None = None
    #: A substring of the path (case-sensitive, no wildcards).
    path_contains: str | None = None


@dataclass(frozen=True)
class MismatchPage:
    #: Rows matching the filter (all pages together).
    total: int
    #: Newest first.
    results: list[dict[str, Any]]
    #: Pass as ``before`` to get the next (older) page; None on the last page.
    next_cursor: int | None


def _conditions(where: MismatchFilter, dialect: str) -> list[sa.ColumnElement[bool]]:
    c = mismatches.c
    conditions: list[sa.ColumnElement[bool]] = []
    if where.route is not None:
        conditions.append(c.route == where.route)
    if where.since is not None:
        conditions.append(c.at >= _naive_utc(where.since))
    if where.until is not None:
        conditions.append(c.at < _naive_utc(where.until))
    if where.expected_status is not None:
        conditions.append(c.expected_status == where.expected_status)
    if where.actual_status is not None:
        conditions.append(c.actual_status == where.actual_status)
    if where.path_contains:
        # A plain substring test, case-sensitive on both backends (SQLite's LIKE is not).
        position = sa.func.instr if dialect == "sqlite" else sa.func.strpos
        conditions.append(position(c.path, where.path_contains) > 0)
    return conditions


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
        "target": row.target,
        "method": row.method,
        "path": row.path,
        "query": row.query or "",
        "sync_lag_s": row.sync_lag_s,
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
        """Create the table, or add the columns it lacks; safe to run at every start."""
        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK})
            metadata.create_all(conn)
            present = {column["name"] for column in sa.inspect(conn).get_columns(mismatches.name)}
            for column in mismatches.columns:
                if column.name in present:
                    continue
                assert column.nullable, f"a column added later must be nullable: {column.name}"
                kind = column.type.compile(dialect=conn.dialect)
                conn.execute(
                    sa.text(f"ALTER TABLE {mismatches.name} ADD COLUMN {column.name} {kind}")
                )

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
            "query": mismatch.query,
            "target": mismatch.target,
            "sync_lag_s": mismatch.sync_lag_s,
        }
        with self.engine.begin() as conn:
            conn.execute(mismatches.insert().values(**values))

    def list(
        self,
        where: MismatchFilter | None = None,
        *,
        limit: int = 50,
        before: int | None = None,
    ) -> MismatchPage:
        """Newest first, up to ``limit``, older than the row ``before`` (a cursor) if given."""
        conditions = _conditions(where or MismatchFilter(), self.engine.dialect.name)
        count_q = sa.select(sa.func.count()).select_from(mismatches).where(*conditions)
        page_conditions = list(conditions)
        if before is not None:
            page_conditions.append(mismatches.c.id < before)
        rows_q = (
            sa.select(mismatches)
            .where(*page_conditions)
            .order_by(mismatches.c.id.desc())
            .limit(limit + 1)
        )
        with self.engine.connect() as conn:
            total = conn.execute(count_q).scalar_one()
            rows = [_row_dict(row) for row in conn.execute(rows_q)]
        more = len(rows) > limit
        rows = rows[:limit]
        return MismatchPage(int(total), rows, rows[-1]["id"] if more and rows else None)

    def record(self, recording: Recording, *, keep: int) -> None:
        """Store ``recording`` and forget its route's older ones beyond the newest ``keep``."""
        with self.engine.begin() as conn:
            conn.execute(
                recordings.insert().values(
                    at=_naive_utc(recording.at),
                    route=recording.route,
                    method=recording.method,
                    path=recording.path,
                    query=recording.query,
                    headers=[list(pair) for pair in recording.headers],
                    body=recording.body,
                    body_kept=recording.body_kept,
                    status=recording.status,
                )
            )
            conn.execute(
                recordings.delete().where(
                    recordings.c.route == recording.route,
                    recordings.c.id.not_in(
                        sa.select(recordings.c.id)
                        .where(recordings.c.route == recording.route)
                        .order_by(recordings.c.id.desc())
                        .limit(keep)
                    ),
                )
            )

    def recordings(self, route: str, *, limit: int) -> tuple[int, Sequence[dict[str, Any]]]:
        """How many requests of ``route`` are kept, and the newest ``limit``, oldest first."""
        count_q = sa.select(sa.func.count()).where(recordings.c.route == route)
        rows_q = (
            sa.select(recordings)
            .where(recordings.c.route == route)
            .order_by(recordings.c.id.desc())
            .limit(limit)
        )
        with self.engine.connect() as conn:
            total = conn.execute(count_q).scalar_one()
            rows = list(conn.execute(rows_q))
        return int(total), [
            {
                "id": row.id,
                "at": row.at.replace(tzinfo=UTC).isoformat().replace("+00:00", "Z"),
                "route": row.route,
                "method": row.method,
                "path": row.path,
                "query": row.query,
                "headers": row.headers,
                "body": _text(row.body),
                "body_kept": row.body_kept,
                "status": row.status,
            }
            for row in reversed(rows)
        ]

    # -- from the event loop -------------------------------------------------------------------
    async def run(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a blocking call of this store on its thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, functools.partial(fn, *args, **kwargs))

    def close(self) -> None:
        self._thread.shutdown(wait=True)
        self.engine.dispose()
