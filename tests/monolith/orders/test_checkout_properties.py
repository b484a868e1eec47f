"""Properties of checkout over random carts and stock: an order is confirmed exactly when every
line fits the stock still available (and the card approves), its total is the exact sum of
price x quantity, stock stays ``0 <= reserved <= on_hand``, and what the confirmed orders hold is
exactly the growth of ``reserved``."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monolith.inventory.models import Product
from monolith.orders.models import OrderLine
from monolith.orders.services import order_checkout
from tests.monolith.factories import make_product

pytestmark = pytest.mark.django_db

PRODUCTS = 4

prices = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("999.99"), places=2)
carts = st.lists(
    st.tuples(
        st.lists(
            st.tuples(st.integers(0, PRODUCTS - 1), st.integers(1, 6)), min_size=1, max_size=5
        ),
        st.sampled_from(["tok_visa", "tok_ok_x", "tok_decline_stolen_card", "tok_error"]),
    ),
    max_size=8,
)


class Rollback(Exception):
    """Ends an example's transaction, so examples never see each other's rows."""


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    stock=st.lists(st.integers(0, 12), min_size=PRODUCTS, max_size=PRODUCTS),
    price_list=st.lists(prices, min_size=PRODUCTS, max_size=PRODUCTS),
    checkouts=carts,
)
def test_checkout_keeps_the_stock_invariants_over_any_carts(
    stock: list[int], price_list: list[Decimal], checkouts: list[tuple[list[tuple[int, int]], str]]
) -> None:
    with pytest.raises(Rollback), transaction.atomic():
        products = [
            make_product(on_hand=on_hand, price=str(price))
            for on_hand, price in zip(stock, price_list, strict=True)
        ]
        skus = [p.sku for p in products]
        available = dict(zip(skus, stock, strict=True))
        confirmed: list[uuid.UUID] = []
        for cart, token in checkouts:
            wanted: dict[str, int] = {}
            for index, quantity in cart:
                wanted[skus[index]] = wanted.get(skus[index], 0) + quantity
            fits = all(q <= available[sku] for sku, q in wanted.items())

            result = order_checkout(
                customer_id=uuid.uuid4(),
                lines=[(skus[i], q) for i, q in cart],
                card_token=token,
            )

            order = result.order
            expected_total = sum(
                (Decimal(str(price_list[skus.index(sku)])) * q for sku, q in wanted.items()),
                Decimal("0"),
            )
            assert order.total == expected_total
            expected: tuple[str, str | None]
            if not fits:
                expected = ("cancelled", "insufficient_stock")
            elif token.startswith("tok_decline"):
                expected = ("cancelled", "payment_declined")
            elif token == "tok_error":
                expected = ("cancelled", "payment_error")
            else:
                expected = ("confirmed", None)
            assert (order.status, order.cancel_reason) == expected, (wanted, available)
            if order.status == "confirmed":
                confirmed.append(order.id)
                for sku, q in wanted.items():
                    available[sku] -= q

            rows = {p.sku: p for p in Product.objects.filter(sku__in=skus)}
            for sku, on_hand in zip(skus, stock, strict=True):
                row = rows[sku]
                assert 0 <= row.reserved <= row.on_hand == on_hand
                held = sum(
                    OrderLine.objects.filter(order_id__in=confirmed, sku=sku).values_list(
                        "quantity", flat=True
                    )
                )
                assert row.reserved == held == on_hand - available[sku]
        raise Rollback
