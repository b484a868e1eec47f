"""Fresh PostgreSQL databases for a test run, created and dropped over a real connection."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import sql

ADMIN_URL = os.environ.get(
    "STRANGLER_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def database_url(name: str) -> str:
    """The SQLAlchemy/libpq URL of database ``name`` on the admin URL's server."""
    return f"{ADMIN_URL.rsplit('/', 1)[0]}/{name}"


def drop_database(admin: psycopg.Connection[Any], name: str) -> None:
    """Drop database ``name`` if it exists, closing its connections (``admin``: autocommit)."""
    admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@contextmanager
def fresh_database(hint: str, *, template: str | None = None) -> Iterator[str]:
    """Create ``sf_<hint>_<random>`` (empty, or a copy of ``template``), yield its URL, drop it
    afterwards."""
    name = f"sf_{hint}_{uuid.uuid4().hex[:10]}"
    create = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template is not None:
        create += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(create)
    try:
        yield database_url(name)
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            drop_database(conn, name)
