"""``X-Strangler-Dry-Run: 1``: a write answers as it would have, and nothing of it persists.

These tests run outside a test transaction (``transaction=True``), so "nothing persists" is what
the database really holds after the request, not a savepoint of the test's own transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from monolith.inventory.models import Product, Reservation, ReservationLine
from monolith.outbox.models import OutboxEvent
from tests.monolith.api_client import JsonClient, JsonResponse
from tests.monolith.factories import make_product, make_reservation
from tests.support.inventory_api import (
    PRODUCTS,
    RESERVATIONS,
    adjustment_body,
    adjustments_path,
    product_body,
    reservation_body,
    reservation_path,
)

pytestmark = pytest.mark.django_db(transaction=True)

DRY = {"X-Strangler-Dry-Run": "1"}
VOLATILE = {"id", "created_at", "updated_at"}


def _snapshot() -> tuple[Any, ...]:
    return (
        sorted(Product.objects.values_list("sku", "on_hand", "reserved", "version")),
        sorted(
            (str(i), s, v) for i, s, v in Reservation.objects.values_list("id", "status", "version")
        ),
        ReservationLine.objects.count(),
        OutboxEvent.objects.count(),
    )


def _stable(body: Any) -> Any:
    if isinstance(body, dict):
        return {k: _stable(v) for k, v in body.items() if k not in VOLATILE}
    if isinstance(body, list):
        return [_stable(v) for v in body]
    return body


Write = Callable[[JsonClient, dict[str, str]], JsonResponse]


def _writes() -> list[tuple[str, Write]]:
    """Each write endpoint, in a success and a refused form, against fresh rows."""

    def create(api: JsonClient, h: dict[str, str]) -> JsonResponse:
        return api.post(PRODUCTS, product_body(sku="DRY-1"), headers=h)

    def create_conflict(api: JsonClient, h: dict[str, str]) -> JsonResponse:
        return api.post(PRODUCTS, product_body(sku="DRY-P"), headers=h)

    def adjust(api: JsonClient, h: dict[str, str]) -> JsonResponse:
        return api.post(adjustments_path("DRY-P"), adjustment_body(delta=-3), headers=h)

    def adjust_short(api: JsonClient, h: dict[str, str]) -> JsonResponse:
        return api.post(adjustments_path("DRY-P"), adjustment_body(delta=-9), headers=h)

    def reserve(api: JsonClient, h: dict[str, str]) -> JsonResponse:
        body = reservation_body(
            [{"sku": "DRY-P", "quantity": 2}], order_id="00000000-0000-4000-8000-000000000001"
        )
        return api.post(RESERVATIONS, body, headers=h)

    def reserve_short(api: JsonClient, h: dict[str, str]) -> JsonResponse:
        return api.post(
            RESERVATIONS, reservation_body([{"sku": "DRY-P", "quantity": 99}]), headers=h
        )

    def commit(api: JsonClient, h: dict[str, str]) -> JsonResponse:
        reservation = Reservation.objects.get(status="pending")
        return api.post(reservation_path(reservation.id, "commit"), headers=h)

    def release(api: JsonClient, h: dict[str, str]) -> JsonResponse:
        reservation = Reservation.objects.get(status="pending")
        return api.post(reservation_path(reservation.id, "release"), headers=h)

    def invalid(api: JsonClient, h: dict[str, str]) -> JsonResponse:
        return api.post(PRODUCTS, product_body(price="x"), headers=h)

    return [
        ("create", create),
        ("create_conflict", create_conflict),
        ("adjust", adjust),
        ("adjust_short", adjust_short),
        ("reserve", reserve),
        ("reserve_short", reserve_short),
        ("commit", commit),
        ("release", release),
        ("invalid", invalid),
    ]


def _rows() -> None:
    make_product(sku="DRY-P", on_hand=10)
    make_reservation([("DRY-P", 3)])


@pytest.mark.parametrize(("name", "write"), _writes(), ids=[name for name, _ in _writes()])
def test_a_dry_run_answers_like_the_real_write_and_persists_nothing(
    stock_api: JsonClient, name: str, write: Write
) -> None:
    _rows()
    before = _snapshot()

    dry = write(stock_api, DRY)

    assert dry.headers["X-Strangler-Dry-Run"] == "rolled-back"
    assert _snapshot() == before, "a dry run left rows or events behind"

    real = write(stock_api, {})

    assert "X-Strangler-Dry-Run" not in real.headers
    assert real.status not in (401, 403), real.body  # the write itself was answered
    assert dry.status == real.status
    assert _stable(dry.body) == _stable(real.body)
    if real.status < 300:
        assert _snapshot() != before, "the real write should have changed something"


def test_dry_run_of_an_unknown_url_still_says_rolled_back(api: JsonClient) -> None:
    resp = api.post("/api/inventory/nothing/", {}, headers=DRY)

    assert resp.status == 404
    assert resp.headers["X-Strangler-Dry-Run"] == "rolled-back"


def test_reads_ignore_the_dry_run_header(api: JsonClient) -> None:
    make_product(sku="DRY-R")

    resp = api.get("/api/inventory/products/DRY-R/", headers=DRY)

    assert resp.status == 200
    assert "X-Strangler-Dry-Run" not in resp.headers


@pytest.mark.parametrize("value", ["0", "true", "yes", ""])
def test_any_other_dry_run_value_on_a_write_is_refused_and_writes_nothing(
    stock_api: JsonClient, value: str
) -> None:
    before = _snapshot()

    resp = stock_api.post(PRODUCTS, product_body(), headers={"X-Strangler-Dry-Run": value})

    assert resp.status == 400
    assert resp.body == {
        "error": "malformed_request",
        "detail": 'X-Strangler-Dry-Run must be "1" when present on a write.',
    }
    assert _snapshot() == before
