"""Concurrent writers on PostgreSQL, with real concurrent connections (one per thread).

To make the race certain rather than likely, the test holds the product's row lock itself, lets
both writers start and waits until PostgreSQL reports both blocked on that lock; then it lets go.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
from django.db import connection, connections, transaction

from monolith.errors import ApplicationError
from monolith.inventory.models import Product, Reservation
from monolith.inventory.services import product_adjust_stock, reservation_create
from monolith.outbox.models import OutboxEvent
from tests.monolith.databases import require_postgres
from tests.monolith.factories import make_product, make_reservation
from tests.support.waiting import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


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


@contextmanager
def _racing(writers: list[Callable[[], Any]]) -> Iterator[list[Any]]:
    """Run ``writers`` in threads while this connection holds the row lock they all need; yield
    their outcomes (return value or the exception raised) once all have finished."""
    outcomes: list[Any] = [None] * len(writers)

    def run(index: int, writer: Callable[[], Any]) -> None:
        try:
            outcomes[index] = writer()
        except Exception as err:
            outcomes[index] = err
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, w)) for i, w in enumerate(writers)]
    with psycopg.connect(_libpq_url(), autocommit=True) as admin:
        with transaction.atomic():
            _lock_all_products()
            for thread in threads:
                thread.start()
            wait_for(
                lambda: _waiting_on_locks(admin) >= len(writers),
                timeout=20,
                message="every writer to block on the product row lock",
            )
        for thread in threads:
            thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    yield outcomes


def _lock_all_products() -> None:
    list(Product.objects.select_for_update().order_by("sku"))


def test_two_reservations_racing_for_the_last_unit_exactly_one_wins_on_postgres() -> None:
    require_postgres()
    product = make_product(on_hand=1)

    def reserve() -> Reservation:
        return reservation_create(order_id=uuid.uuid4(), lines=[(product.sku, 1)])

    with _racing([reserve, reserve]) as outcomes:
        pass

    winners = [o for o in outcomes if isinstance(o, Reservation)]
    losers = [o for o in outcomes if isinstance(o, ApplicationError)]
    assert len(winners) == 1 and len(losers) == 1, outcomes
    assert losers[0].code == "insufficient_stock"
    row = Product.objects.get(sku=product.sku)
    assert (row.on_hand, row.reserved, row.version) == (1, 1, 2)
    assert Reservation.objects.count() == 1
    assert OutboxEvent.objects.filter(aggregate_id=product.sku).count() == 2


def test_adjustments_racing_below_the_reserved_stock_never_break_the_invariant_on_postgres() -> (
    None
):
    require_postgres()
    product = make_product(on_hand=10)
    make_reservation([(product.sku, 4)])

    def take_five() -> Product:
        return product_adjust_stock(sku=product.sku, delta=-5, reason="race")

    with _racing([take_five, take_five]) as outcomes:
        pass

    assert sum(isinstance(o, Product) for o in outcomes) == 1, outcomes
    assert sum(isinstance(o, ApplicationError) for o in outcomes) == 1, outcomes
    row = Product.objects.get(sku=product.sku)
    assert (row.on_hand, row.reserved, row.version) == (5, 4, 3)


def test_racing_reservations_for_the_same_order_conflict_on_postgres() -> None:
    require_postgres()
    product = make_product(on_hand=10)
    order_id = uuid.uuid4()

    def reserve() -> Reservation:
        return reservation_create(order_id=order_id, lines=[(product.sku, 1)])

    with _racing([reserve, reserve]) as outcomes:
        pass

    errors = [o for o in outcomes if isinstance(o, ApplicationError)]
    assert sum(isinstance(o, Reservation) for o in outcomes) == 1, outcomes
    assert [e.code for e in errors] == ["conflict"]
    assert Product.objects.get(sku=product.sku).reserved == 1


def test_many_writers_on_many_products_never_deadlock_or_oversell_on_postgres() -> None:
    """Reservations over overlapping sets of products, listed in different orders: locks are
    taken in sku order, so none deadlocks, and stock never goes below zero."""
    require_postgres()
    products = [make_product(sku=f"R{i}-{uuid.uuid4().hex[:6]}", on_hand=3) for i in range(4)]
    skus = [p.sku for p in products]

    def reserve(order: list[str]) -> Callable[[], Reservation]:
        return lambda: reservation_create(order_id=uuid.uuid4(), lines=[(s, 1) for s in order])

    writers = [reserve(skus), reserve(skus[::-1]), reserve(skus[1:] + skus[:1]), reserve(skus[2:])]
    writers += [reserve(skus[::-1]), reserve(skus)]
    with _racing(writers) as outcomes:
        pass

    assert not [
        o for o in outcomes if isinstance(o, Exception) and not isinstance(o, ApplicationError)
    ], outcomes
    for row in Product.objects.filter(sku__in=skus):
        assert 0 <= row.reserved <= row.on_hand == 3
        reserved_by_lines = sum(line.quantity for line in row.reservation_lines.all())
        assert row.reserved == reserved_by_lines
