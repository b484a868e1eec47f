"""Fresh PostgreSQL databases for a test run, created and dropped over a real connection."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql

ADMIN_URL = os.environ.get(
    "STRANGLER_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def _base_url() -> str:
    return ADMIN_URL.rsplit("/", 1)[0]


@contextmanager
def fresh_database(hint: str) -> Iterator[str]:
    """Create ``sf_<hint>_<random>``, yield its SQLAlchemy/libpq URL, drop it afterwards."""
    name = f"sf_{hint}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield f"{_base_url()}/{name}"
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@contextmanager
def fresh_owner_databases(hint: str) -> Iterator[dict[str, str]]:
    """A fresh database for each owner, the monolith (``<hint>_mono``), the inventory service
    (``<hint>_inv``), the payments service (``<hint>_pay``) and the orders service
    (``<hint>_ord``), as the environment variables they read (docs/components.md)."""
    with (
        fresh_database(f"{hint}_mono") as monolith,
        fresh_database(f"{hint}_inv") as inventory,
        fresh_database(f"{hint}_pay") as payments,
        fresh_database(f"{hint}_ord") as orders,
    ):
        yield {
            "DATABASE_URL": monolith,
            "INVENTORY_DATABASE_URL": inventory,
            "PAYMENTS_DATABASE_URL": payments,
            "ORDERS_DATABASE_URL": orders,
        }
