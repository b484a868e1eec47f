"""Concurrent writers on PostgreSQL, with real concurrent connections (one per thread).

To make the race certain rather than likely, the test holds the product's row lock itself, lets
both writers start and waits until PostgreSQL reports both blocked on that lock; then it lets go.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from monolith.errors import ApplicationError
from monolith.inventory.models import Product, Reservation
from monolith.inventory.services import product_adjust_stock, reservation_create
from monolith.outbox.models import OutboxEvent
from tests.monolith.databases import require_postgres
from tests.monolith.factories import make_product, make_reservation
from tests.monolith.races import hold_products, race

pytestmark = pytest.mark.django_db(transaction=True)


def test_two_reservations_racing_for_the_last_unit_exactly_one_wins_on_postgres() -> None:
    require_postgres()
    product = make_product(on_hand=1)

    def reserve() -> Reservation:
        return reservation_create(order_id=uuid.uuid4(), lines=[(product.sku, 1)])

    outcomes = race([reserve, reserve], hold=hold_products())

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

    outcomes = race([take_five, take_five], hold=hold_products())

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

    outcomes = race([reserve, reserve], hold=hold_products())

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
    outcomes = race(writers, hold=hold_products())

    assert not [
        o for o in outcomes if isinstance(o, Exception) and not isinstance(o, ApplicationError)
    ], outcomes
    for row in Product.objects.filter(sku__in=skus):
        assert 0 <= row.reserved <= row.on_hand == 3
        reserved_by_lines = sum(line.quantity for line in row.reservation_lines.all())
        assert row.reserved == reserved_by_lines
