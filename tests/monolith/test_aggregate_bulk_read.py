"""The backfill's bulk readers of payments and orders: a page as COPY text (the rows, the mark,
their child rows) carries, row for row and child for child, the states the JSON reader gives for
the same page, as the owner reads it back; a range's end stops a page; and the range ends split
the keys into runs of about equal size whatever the ids look like."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from extracted.orders.sync import BACKFILL as ORDERS_BACKFILL
from extracted.payments.sync import BACKFILL as PAYMENTS_BACKFILL
from monolith.copy_pages import KeysetPage
from monolith.orders.bulk_read import ORDERS, order_page_copy_bytes
from monolith.orders.selectors import order_states_after
from monolith.payments.bulk_read import PAYMENTS, payment_page_copy_bytes
from monolith.payments.selectors import payment_states_after
from monolith.payments.services import payment_capture, payment_refund
from protocol.copy_text import split_page
from tests.monolith.factories import make_payment, make_product
from tests.monolith.orders.factories import make_order

pytestmark = pytest.mark.django_db

#: Per kind: the COPY reader, the state-dict reader, the owner that decodes a page, the children.
KINDS: dict[str, tuple[Callable[..., bytes], Callable[..., list[dict[str, Any]]], Any, str]] = {
    "payment": (payment_page_copy_bytes, payment_states_after, PAYMENTS_BACKFILL, "refunds"),
    "order": (order_page_copy_bytes, order_states_after, ORDERS_BACKFILL, "lines"),
}


def _write_some() -> None:
    customer = uuid.uuid4()
    for n in range(3):
        payment = make_payment(customer_id=customer, amount="30.00", capture=True)
        for _ in range(n):  # 0, 1 and 2 refunds
            payment_refund(payment_id=payment.id, amount=Decimal("5.00"))
    payment_capture(payment_id=make_payment(customer_id=customer).id)
    product = make_product(price="2.50", on_hand=50)
    other = make_product(price="1.25", on_hand=50)
    make_order(customer_id=customer, lines=[(product.sku, 2), (other.sku, 3)])
    make_order(customer_id=customer, lines=[(other.sku, 1)])
    make_order(customer_id=customer, lines=[(product.sku, 99)])  # cancelled: out of stock


def _canonical(states: list[Any], children: str) -> list[dict[str, Any]]:
    dumped = [s if isinstance(s, dict) else s.model_dump(mode="json") for s in states]
    return [{**s, children: sorted(s[children], key=str)} for s in dumped]


@pytest.mark.parametrize("kind", KINDS)
def test_copy_pages_carry_the_json_pages_states(kind: str) -> None:
    _write_some()
    read_copy, read_states, owner, children = KINDS[kind]
    after: str | None = None
    pages = 0
    while True:
        page = read_copy(after_key=after, limit=2)
        expected = read_states(after_key=after, limit=2)
        rows, kids = split_page(page)
        assert _canonical(owner.decode(rows, kids), children) == _canonical(expected, children)
        if not expected:
            assert (rows, kids) == (b"", b"")
            break
        after = str(expected[-1]["id"])
        pages += 1
    assert pages >= 2


@pytest.mark.parametrize("kind", KINDS)
def test_a_page_stops_at_its_ranges_end(kind: str) -> None:
    _write_some()
    read_copy, read_states, owner, _ = KINDS[kind]
    ids = [str(state["id"]) for state in read_states(after_key=None, limit=100)]
    rows, _ = split_page(read_copy(after_key=ids[0], limit=100, end_key=ids[2]))
    assert [str(state.id) for state in owner.decode(rows, b"")] == ids[1:3]


@pytest.mark.parametrize("reader", [PAYMENTS, ORDERS])
def test_range_ends_split_the_keys_into_runs_of_about_equal_size(reader: KeysetPage) -> None:
    for _ in range(3):
        _write_some()
    model = reader.model
    keys = sorted(str(key) for key in model._default_manager.values_list("id", flat=True))
    ends = reader.range_ends(3)
    assert len(ends) == 2 and ends == sorted(ends) and set(ends) <= set(keys)
    runs = [
        sum(1 for k in keys if (lo is None or k > lo) and (hi is None or k <= hi))
        for lo, hi in zip([None, *ends], [*ends, None], strict=True)
    ]
    assert sum(runs) == len(keys) and max(runs) - min(runs) <= 1
    assert reader.range_ends(1) == []
    assert len(reader.range_ends(len(keys) + 5)) == len(keys) - 1  # fewer rows than parts
