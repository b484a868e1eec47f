"""Engine and session factory from a database URL, tuned per dialect.

* PostgreSQL: the psycopg 3 driver (``postgresql://`` is rewritten to ``postgresql+psycopg://``),
  a small pool with pre-ping.
* SQLite (embedded mode): WAL, a busy timeout, foreign keys on, and ``BEGIN IMMEDIATE`` for every
  transaction so two writers queue on the busy timeout instead of failing with "database is
  locked" when both try to upgrade a read lock (SQLite has no ``SELECT ... FOR UPDATE``).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_MS = 30_000


def normalise_url(url: str) -> str:
    """``postgresql://`` and ``postgres://`` URLs use psycopg 3; others are kept."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url`` with the per-dialect settings above."""
    url = normalise_url(url)
    if is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, **kwargs
        )
        _tune_sqlite(engine)
        return engine
    kwargs.setdefault("pool_size", 5)
    kwargs.setdefault("max_overflow", 10)
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def _tune_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_sessions(engine: Engine) -> sessionmaker[Session]:
    """The session factory services use (objects stay readable after commit)."""
    return sessionmaker(engine, expire_on_commit=False)


@cache
def sessions_for(url: str) -> sessionmaker[Session]:
    """One engine and session factory per database URL, for the life of the process."""
    return make_sessions(make_engine(url))


def default_sessions_of(database_url: Callable[[], str]) -> Callable[[], sessionmaker[Session]]:
    """A service's ``default_sessions()``: the session factory of its settings' database URL,
    read once per process (a process's environment does not change)."""

    @cache
    def default_sessions() -> sessionmaker[Session]:
        return sessions_for(database_url())

    return default_sessions
