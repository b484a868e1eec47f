"""Races on real PostgreSQL connections, started together without sleeping.

``race(writers, hold=...)`` holds a lock in this test's connection (``hold`` takes it inside a
transaction), starts every writer in its own thread (each with its own database connection),
waits until PostgreSQL reports all of them waiting on a lock, then lets go: the writers meet at
the lock at the same moment, every time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import psycopg
from django.db import connection, connections, transaction

from monolith.inventory.models import Product
from tests.support.waiting import wait_for

T = TypeVar("T")


def _libpq_url() -> str:
    s = connection.settings_dict
    return f"postgresql://{s['USER']}@{s['HOST']}:{s['PORT']}/{s['NAME']}"


def _waiting_on_locks(admin: psycopg.Connection[Any]) -> int:
    row = admin.execute(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
    ).fetchone()
    assert row is not None
    return int(row[0])


def race(
    writers: Sequence[Callable[[], T]], *, hold: Callable[[], None]
) -> list[T | BaseException]:
    """The outcome of each writer: its return value, or the exception it raised."""
    outcomes: list[T | BaseException] = [RuntimeError("not run")] * len(writers)

    def run(index: int, writer: Callable[[], T]) -> None:
        try:
            outcomes[index] = writer()
        except BaseException as err:
            outcomes[index] = err
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, w)) for i, w in enumerate(writers)]
    with psycopg.connect(_libpq_url(), autocommit=True) as admin:
        with transaction.atomic():
            hold()
            for thread in threads:
                thread.start()
            wait_for(
                lambda: _waiting_on_locks(admin) >= len(writers),
                timeout=20,
                message="every writer to block on the held lock",
            )
        for thread in threads:
            thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    return outcomes


def hold_products(*skus: str) -> Callable[[], None]:
    """Lock these products' rows (every product when none is named), in sku order."""

    def hold() -> None:
        rows = Product.objects.select_for_update().order_by("sku")
        list(rows.filter(sku__in=skus) if skus else rows)

    return hold


def hold_inserts_into(table: str) -> Callable[[], None]:
    """Block every insert into ``table`` (reads go on)."""

    def hold() -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                f"LOCK TABLE {connection.ops.quote_name(table)} IN SHARE ROW EXCLUSIVE MODE"
            )

    return hold
