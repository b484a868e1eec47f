"""The books rules (migrations_plan.books) over owners' canonical rows: a shop kept by the
contract balances; each way an owner can disagree is named."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest

from migrations_plan.books import Books, imbalances
from tests.plan.books_factory import Shop


def _imbalances(shop: Shop) -> list[str]:
    return imbalances(Books.from_texts(shop.texts()))


def _shop() -> tuple[Shop, list[str]]:
    """Three orders: confirmed, fulfilled, cancelled (refunded and released)."""
    shop = Shop()
    orders = [shop.checkout(), shop.checkout("SKU-00002", 3), shop.checkout("SKU-00002")]
    shop.fulfil(orders[1])
    shop.cancel(orders[2])
    return shop, orders


def test_books_kept_by_the_contract_balance() -> None:
    shop, _ = _shop()
    assert _imbalances(shop) == []
    assert _imbalances(Shop()) == []


def _reserved_off(shop: Shop, orders: list[str]) -> None:
    shop.reserved["SKU-00001"] += 1


def _reservation_released_behind_the_order(shop: Shop, orders: list[str]) -> None:
    reservation = shop.reservations[shop.orders[orders[0]]["reservation_id"]]
    reservation["status"] = "released"
    shop.reserved["SKU-00001"] -= 1


def _payment_voided(shop: Shop, orders: list[str]) -> None:
    payment = shop.payments[shop.orders[orders[0]]["payment_id"]]
    payment["status"] = "voided"
    payment["captured_amount"] = Decimal(0)


def _order_missing(shop: Shop, orders: list[str]) -> None:
    del shop.orders[orders[0]]


def _payment_missing(shop: Shop, orders: list[str]) -> None:
    del shop.payments[shop.orders[orders[1]]["payment_id"]]


def _captured_less_than_the_total(shop: Shop, orders: list[str]) -> None:
    shop.payments[shop.orders[orders[1]]["payment_id"]]["refunded_amount"] = Decimal("1.00")


@pytest.mark.parametrize(
    ("break_books", "expected"),
    [
        (_reserved_off, "SKU-00001 reserved 2, pending reservations hold 1"),
        (_reservation_released_behind_the_order, "confirmed order {0}: reservation"),
        (_payment_voided, "confirmed order {0} of 2.50: payment"),
        (_order_missing, "pending reservation"),
        (_payment_missing, "fulfilled order {1} has no payment"),
        (_captured_less_than_the_total, "with 6.50 kept"),
    ],
)
def test_each_disagreement_between_owners_is_named(
    break_books: Callable[[Shop, list[str]], None], expected: str
) -> None:
    shop, orders = _shop()
    break_books(shop, orders)
    found = _imbalances(shop)
    assert found, "the books should not balance"
    assert any(expected.format(*orders) in line for line in found), found


def test_an_order_missing_leaves_its_payment_named_too() -> None:
    shop, orders = _shop()
    payment_id = shop.orders[orders[0]]["payment_id"]
    del shop.orders[orders[0]]
    found = _imbalances(shop)
    assert any(f"payment {payment_id} keeps 2.50 for order {orders[0]}" in f for f in found)


def test_payments_of_no_order_do_not_count() -> None:
    shop, _ = _shop()
    loose = shop.checkout()
    payment = shop.payments[shop.orders[loose]["payment_id"]]
    shop.cancel(loose)
    payment.update(order_id=None, status="captured", refunded_amount=Decimal(0))
    assert _imbalances(shop) == []
