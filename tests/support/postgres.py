"""Fresh PostgreSQL databases for a test run, created and dropped over a real connection.

A test's database is dropped in the background once the test is done with it: ``DROP DATABASE``
waits for a checkpoint, which is the test's time for nothing. ``finish_drops`` (the end of each
test process's session) waits for the drops still queued and reports any that failed.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import sql

from strangler.real_mode import OWNER_URL_VARIABLES

ADMIN_URL = os.environ.get(
    "STRANGLER_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def database_url(name: str) -> str:
    """The SQLAlchemy/libpq URL of database ``name`` on the admin URL's server."""
    return f"{ADMIN_URL.rsplit('/', 1)[0]}/{name}"


def drop_database(admin: psycopg.Connection[Any], name: str) -> None:
    """Drop database ``name`` if it exists, closing its connections (``admin``: autocommit)."""
    admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


_drops = ThreadPoolExecutor(max_workers=1, thread_name_prefix="drop-test-database")
_queued: list[Future[None]] = []


def _drop_now(name: str) -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        drop_database(conn, name)


def finish_drops() -> None:
    """Wait until every database handed to the background is dropped; raise the first failure."""
    done = list(_queued)
    _queued.clear()
    for future in done:
        future.result()


@contextmanager
def fresh_database(hint: str, *, template: str | None = None) -> Iterator[str]:
    """Create ``sf_<hint>_<random>`` (empty, or a copy of ``template``), yield its URL, drop it
    afterwards (in the background: nothing may use it after the ``with`` block)."""
    name = f"sf_{hint}_{uuid.uuid4().hex[:10]}"
    create = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template is not None:
        create += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(create)
    try:
        yield database_url(name)
    finally:
        _queued.append(_drops.submit(_drop_now, name))


def drop_owner_databases(prefix: str) -> None:
    """Drop what real mode provisioned under ``prefix`` (strangler.real_mode): each owner's
    database, then its role."""
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        for owner in OWNER_URL_VARIABLES:
            drop_database(conn, f"{prefix}{owner}")
        for owner in OWNER_URL_VARIABLES:
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(prefix + owner)))
