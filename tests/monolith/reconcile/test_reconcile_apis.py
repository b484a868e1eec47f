"""``/internal/reconcile/<aggregate>/...`` of the monolith, for every reconciled aggregate: the
rows its own database yields through the shared queries (PostgreSQL) are exactly the canonical
text of the state its events carry (child rows included), checksums are the sums of those rows'
hashes, ``states`` answers the events' states, and bad requests are refused before anything
runs."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import pytest

from monolith.identity.models import User
from monolith.inventory.states import product_state, reservation_state
from monolith.orders.states import order_state
from monolith.payments.services import payment_capture, payment_refund
from monolith.payments.states import payment_state
from protocol.canonical import row_hash
from protocol.reconcile_spec import SPECS
from tests.monolith.api_client import JsonClient
from tests.monolith.factories import make_payment, make_product, make_reservation
from tests.monolith.orders.factories import make_order

BASE = "/internal/reconcile"


def _written(customer: User) -> dict[str, list[dict[str, Any]]]:
    """One row or more of each aggregate, written through the services, as their states."""
    mug, cup = make_product(on_hand=20), make_product(price="3.10", on_hand=20)
    reservation = make_reservation([(cup.sku, 2), (mug.sku, 1)])
    refunded = make_payment(customer_id=customer.id, amount="50.00", capture=True)
    payment_refund(payment_id=refunded.id, amount=Decimal("20.00"))
    payment_refund(payment_id=refunded.id, amount=Decimal("5.50"))
    plain = make_payment(customer_id=customer.id)
    payment_capture(payment_id=plain.id)
    order = make_order(customer_id=customer.id, lines=[(mug.sku, 2), (cup.sku, 1)])
    for row in (mug, cup, reservation, refunded, plain, order):
        row.refresh_from_db()  # as they stand after every write above
    return {
        "products": [product_state(mug), product_state(cup)],
        "reservations": [reservation_state(reservation)],
        "payments": [payment_state(refunded), payment_state(plain)],
        "orders": [order_state(order)],
    }


def _key(name: str, state: dict[str, Any]) -> str:
    return str(state[SPECS[name].key.name])


@pytest.mark.django_db
def test_rows_are_the_canonical_text_of_each_state_and_checksums_sum_them(
    internal_api: JsonClient, customer: User
) -> None:
    written = _written(customer)
    [payment, _] = written["payments"]
    assert len(payment["refunds"]) == 2 and len(written["orders"][0]["lines"]) == 2
    for name, states in written.items():
        spec = SPECS[name]
        answer = internal_api.post(f"{BASE}/{name}/rows", {"limit": 5000})
        assert answer.status == 200, answer.body
        rows = {row["key"]: row for row in answer.body["rows"]}
        assert list(rows) == sorted(rows)  # byte order of the canonical keys
        for state in states:
            row = rows[_key(name, state)]
            assert row["text"] == spec.canonical_state(state), name
            assert row["version"] == state["version"]
        keys = sorted(rows)
        bounds = keys[1:2]
        sums = internal_api.post(f"{BASE}/{name}/checksums", {"bounds": bounds}).body["ranges"]
        hashes = [row_hash(rows[key]["text"]) for key in keys]
        runs = [hashes[:1], hashes[1:]] if bounds else [hashes]
        assert sums == [{"count": len(run), "checksum": str(sum(run))} for run in runs]
        states_answer = internal_api.post(
            f"{BASE}/{name}/states", {"keys": [_key(name, s) for s in states]}
        )
        assert states_answer.status == 200
        assert states_answer.body["states"] == sorted(states, key=lambda s: _key(name, s))


@pytest.mark.django_db
def test_bounds_split_uuid_keys_in_canonical_order(
    internal_api: JsonClient, customer: User
) -> None:
    made = [make_payment(customer_id=customer.id) for _ in range(9)]
    keys = sorted(str(p.id) for p in made)
    answer = internal_api.post(f"{BASE}/payments/bounds", {"parts": 3})
    assert answer.status == 200
    assert answer.body == {"bounds": [keys[3], keys[6]], "sampled": False}
    between = internal_api.post(f"{BASE}/payments/rows", {"lo": keys[3], "hi": keys[6]}).body[
        "rows"
    ]
    assert [row["key"] for row in between] == keys[3:6]


@pytest.mark.django_db
def test_bad_requests_are_refused(internal_api: JsonClient) -> None:
    key = uuid.uuid4()
    for path, body, status in [
        ("refunds/rows", {}, 404),
        ("payments/rows", {"lo": key.hex}, 400),  # not the canonical spelling
        ("payments/rows", {"lo": str(key).upper()}, 400),
        ("orders/checksums", {"bounds": ["b", "a"]}, 400),
        ("reservations/states", {"keys": ["not-a-uuid"]}, 400),
        ("products/bounds", {"parts": 1}, 400),
        ("products/rows", {"unknown": 1}, 400),
    ]:
        answer = internal_api.post(f"{BASE}/{path}", body)
        assert answer.status == status, (path, body, answer.body)
        assert answer.body["error"] == ("not_found" if status == 404 else "invalid")
