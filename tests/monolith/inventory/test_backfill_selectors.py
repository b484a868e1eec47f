"""The backfill reader: keyset pages of contract states, in key order, that add up to every row."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from contracts.events import ProductState, ReservationState
from monolith.inventory.models import Product, Reservation
from monolith.inventory.selectors import product_states_after, reservation_states_after
from monolith.inventory.services import reservation_commit
from monolith.outbox.models import OutboxEvent
from tests.monolith.factories import make_product, make_reservation
from tests.support.random_refs import random_suffix

pytestmark = pytest.mark.django_db


def _all_pages(read: Any, key: str, limit: int) -> list[list[dict[str, Any]]]:
    pages: list[list[dict[str, Any]]] = []
    after: str | None = None
    while page := read(after_key=after, limit=limit):
        pages.append(page)
        after = str(page[-1][key])
    return pages


def test_product_pages_follow_sku_byte_order_and_cover_every_row_once() -> None:
    suffix = random_suffix()
    skus = [f"{p}{suffix}" for p in ("b", "B", "a", "_x", "0", "Z", "a.", "a-")]
    for sku in skus:
        make_product(sku=sku)

    pages = _all_pages(product_states_after, "sku", 3)

    assert [len(page) for page in pages] == [3, 3, 2]
    assert [row["sku"] for page in pages for row in page] == sorted(skus)


def test_product_rows_are_the_state_of_their_latest_event() -> None:
    product = make_product(on_hand=4, price="7.00")
    make_reservation([(product.sku, 3)])

    (row,) = product_states_after(after_key=None, limit=10)

    latest = OutboxEvent.objects.filter(aggregate_id=product.sku).order_by("-seq").first()
    assert latest is not None
    assert row == latest.payload
    state = ProductState.model_validate(row)
    assert (state.price, state.on_hand, state.reserved, state.version) == ("7.00", 4, 3, 2)


def test_after_the_last_key_there_is_nothing() -> None:
    product = make_product()

    assert product_states_after(after_key=product.sku, limit=10) == []
    assert product_states_after(after_key="~", limit=10) == []
    assert product_states_after(after_key="", limit=10)[0]["sku"] == product.sku


def test_reservation_pages_follow_id_order_with_their_lines() -> None:
    product = make_product(on_hand=50)
    made = [make_reservation([(product.sku, 1)]) for _ in range(7)]
    reservation_commit(reservation_id=made[0].id)

    pages = _all_pages(reservation_states_after, "id", 2)

    rows = [row for page in pages for row in page]
    assert [len(page) for page in pages] == [2, 2, 2, 1]
    assert [row["id"] for row in rows] == sorted(str(r.id) for r in made)
    assert [uuid.UUID(row["id"]) for row in rows] == sorted(r.id for r in made)
    for row in rows:
        state = ReservationState.model_validate(row)
        assert [(line.sku, line.quantity) for line in state.lines] == [(product.sku, 1)]
        assert state.version == Reservation.objects.get(id=state.id).version
    committed = next(row for row in rows if row["id"] == str(made[0].id))
    assert (committed["status"], committed["version"]) == ("committed", 2)


def test_a_reservation_page_needs_a_uuid_key_and_a_positive_limit() -> None:
    with pytest.raises(ValueError):
        reservation_states_after(after_key="not-a-uuid", limit=5)
    with pytest.raises(ValueError, match="limit"):
        product_states_after(after_key=None, limit=0)


def test_pages_read_only_committed_rows_as_they_are_now() -> None:
    product = make_product(on_hand=1)
    Product.objects.filter(sku=product.sku).update(name="Renamed in place")

    (row,) = product_states_after(after_key=None, limit=1)

    assert row["name"] == "Renamed in place"
