"""The checkout benchmark's consistency check (bench/checkout_consistency.py) reads the owners'
counts through their real APIs: an orders process, the inventory service and the monolith's
payments endpoints (the payments service answers the same contract), on fresh databases."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from bench.checkout_consistency import Counts, read_counts, settled_counts
from tests.support.orders_stack import ORDERS, checkout_body, orders_deployment, running_upstreams

pytestmark = pytest.mark.slow


def test_counts_agree_after_checkouts_and_tell_a_unit_taken_outside_an_order(
    tmp_path: Path,
) -> None:
    with running_upstreams(tmp_path) as upstreams, orders_deployment(upstreams) as deployment:
        orders = deployment.start()
        product = upstreams.product(on_hand=50)
        shopper = uuid.uuid4()
        with orders.client() as http:
            for card in ("tok_visa", "tok_visa", "tok_decline_insufficient_funds", "tok_visa"):
                answer = http.post(
                    ORDERS,
                    json=checkout_body([(product["sku"], 1)], card),
                    headers=upstreams.auth(shopper),
                )
                assert answer.status_code == (201 if card == "tok_visa" else 402), answer.text

        def read(loaded_on_hand: int) -> Counts:
            return read_counts(
                orders_url=orders.orders_url,
                inventory_url=upstreams.inventory_url,
                payments_url=upstreams.monolith_url,
                sku=product["sku"],
                loaded_on_hand=loaded_on_hand,
                shopper_token=upstreams.token(shopper),
                service_token=upstreams.token(uuid.uuid4(), staff=True),
            )

        # Three confirmed orders: 3 units reserved, 3 captured payments; the declined attempt is
        # stored as declined, its order cancelled and its reservation released, so none counts.
        counts = settled_counts(lambda: read(50), timeout_s=10)
        assert counts == Counts(confirmed_orders=3, units_taken=3, captured_payments=3)
        assert counts.agree
        # Had 51 been loaded, one unit left the stock outside any order: the counts disagree, and
        # waiting for them to settle ends at the deadline with the disagreeing read.
        wrong = settled_counts(lambda: read(51), timeout_s=0.5)
        assert wrong == Counts(confirmed_orders=3, units_taken=4, captured_payments=3)
        assert not wrong.agree
