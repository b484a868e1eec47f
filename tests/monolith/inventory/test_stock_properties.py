"""Properties of stock under any sequence of writes: the services agree with a tiny reference
model, ``0 <= reserved <= on_hand`` always holds, versions count the writes, and every write
leaves exactly one event per row it wrote."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monolith.errors import ApplicationError
from monolith.inventory.models import Product, Reservation
from monolith.inventory.services import (
    product_adjust_stock,
    reservation_commit,
    reservation_create,
    reservation_release,
)
from monolith.outbox.models import OutboxEvent
from tests.monolith.factories import make_product

pytestmark = pytest.mark.django_db

operations = st.lists(
    st.one_of(
        st.tuples(st.just("adjust"), st.integers(-25, 25).filter(bool)),
        st.tuples(st.just("reserve"), st.integers(1, 15)),
        st.tuples(st.just("commit"), st.integers(0, 9)),
        st.tuples(st.just("release"), st.integers(0, 9)),
    ),
    max_size=25,
)


@dataclass
class Model:
    on_hand: int
    reserved: int = 0
    writes: int = 1
    pending: list[tuple[uuid.UUID, int]] = field(default_factory=list)
    settled: list[uuid.UUID] = field(default_factory=list)


class Rollback(Exception):
    """Ends an example's transaction, so examples never see each other's rows."""


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(start=st.integers(0, 30), ops=operations)
def test_stock_invariants_hold_under_any_sequence_of_writes(
    start: int, ops: list[tuple[str, int]]
) -> None:
    with pytest.raises(Rollback), transaction.atomic():
        product = make_product(on_hand=start)
        sku = product.sku
        model = Model(on_hand=start)
        for op, arg in ops:
            events_before = OutboxEvent.objects.count()
            ok, rows_written = _apply(op, arg, sku, model)
            row = Product.objects.get(sku=sku)
            assert 0 <= row.reserved <= row.on_hand
            assert (row.on_hand, row.reserved, row.version) == (
                model.on_hand,
                model.reserved,
                model.writes,
            ), (op, arg)
            assert OutboxEvent.objects.count() - events_before == (rows_written if ok else 0)
        latest = OutboxEvent.objects.filter(aggregate_id=sku).order_by("-seq").first()
        assert latest is not None and latest.version == model.writes
        raise Rollback


def _apply(op: str, arg: int, sku: str, model: Model) -> tuple[bool, int]:
    """Apply one write through the services and to the model; (succeeded, rows written)."""
    if op == "adjust":
        allowed = model.on_hand + arg >= model.reserved
        outcome = _attempt(lambda: product_adjust_stock(sku=sku, delta=arg, reason="property"))
        assert outcome == allowed, (op, arg)
        if allowed:
            model.on_hand += arg
            model.writes += 1
        return outcome, 1
    if op == "reserve":
        allowed = arg <= model.on_hand - model.reserved
        order_id = uuid.uuid4()
        outcome = _attempt(lambda: reservation_create(order_id=order_id, lines=[(sku, arg)]))
        assert outcome == allowed, (op, arg)
        if allowed:
            reservation = Reservation.objects.get(order_id=order_id)
            model.pending.append((reservation.id, arg))
            model.reserved += arg
            model.writes += 1
        return outcome, 2
    # commit / release: an index into pending reservations, or a settled one (refused)
    if model.pending and arg < len(model.pending):
        reservation_id, quantity = model.pending.pop(arg)
        settle = reservation_commit if op == "commit" else reservation_release
        assert _attempt(lambda: settle(reservation_id=reservation_id))
        model.reserved -= quantity
        if op == "commit":
            model.on_hand -= quantity
        model.writes += 1
        model.settled.append(reservation_id)
        return True, 2
    if model.settled:
        settled = model.settled[arg % len(model.settled)]
        settle = reservation_commit if op == "commit" else reservation_release
        assert not _attempt(lambda: settle(reservation_id=settled))
    return False, 0


def _attempt(write: object) -> bool:
    assert callable(write)
    try:
        write()
    except ApplicationError:
        return False
    return True
