"""One backfill batch of a job at a time, across every inventory worker process.

Why our own (and not a broker lock): the inventory worker applies a batch only when the job's
checkpoint is where the batch starts (see inventory_worker). That check and the apply must not
interleave with another batch of the same job, or two copies of one page (an old chain still in
flight after a crash, and the resumed one) would both pass and both go on. The lock lives with
the database whose checkpoint it guards and dies with its holder, so a worker killed with SIGKILL
never leaves it held:

* PostgreSQL: a transaction-level advisory lock on a connection of its own (released by the
  server when the connection ends, however it ends); waiting is bounded by ``lock_timeout``, and
  a timeout is an OperationalError, which the task retries like any transient error.
* SQLite (embedded mode, one machine): an ``fcntl`` lock on a file beside the database.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Final

from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from extracted.chassis.db import is_sqlite, make_engine
from extracted.inventory.config import InventorySettings

LOCK_WAIT: Final = "30s"


@cache
def _engine(url: str) -> Engine:
    return make_engine(url, pool_size=2, max_overflow=2)


@contextmanager
def backfill_lock(job: str, *, database_url: str | None = None) -> Iterator[None]:
    url = database_url or InventorySettings().database_url
    if is_sqlite(url):
        database = make_url(url).database
        if not database or database == ":memory:":
            raise ValueError("backfill needs a file database (not :memory:)")
        with _file_lock(Path(f"{database}.backfill-{job}.lock")):
            yield
        return
    with _engine(url).connect() as conn, conn.begin():
        conn.execute(text(f"SET LOCAL lock_timeout = '{LOCK_WAIT}'"))
        conn.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
            {"key": f"strangler-backfill:{job}"},
        )
        yield
        # Leaving the transaction releases the lock.


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
