"""Reservations over HTTP: reserve -> commit | release, every refusal in the contract order."""

from __future__ import annotations

import uuid

import pytest

from monolith.inventory.models import Product, Reservation
from monolith.outbox.models import OutboxEvent
from tests.monolith.api_client import JsonClient
from tests.monolith.factories import make_product, make_reservation
from tests.support.inventory_api import RESERVATIONS, reservation_body, reservation_path
from tests.support.random_refs import random_order_id, random_suffix

pytestmark = pytest.mark.django_db

RESERVATION_KEYS = ["id", "order_id", "status", "lines", "version", "created_at", "updated_at"]


def _stock(sku: str) -> tuple[int, int, int]:
    row = Product.objects.get(sku=sku)
    return row.on_hand, row.reserved, row.version


def test_create_reserves_every_line_merging_repeats_and_sorting_by_sku(api: JsonClient) -> None:
    suffix = random_suffix()
    b = make_product(sku=f"B-{suffix}", on_hand=10)
    a = make_product(sku=f"A-{suffix}", on_hand=5)
    body = reservation_body(
        [
            {"sku": b.sku, "quantity": 2},
            {"sku": a.sku, "quantity": 1},
            {"sku": b.sku, "quantity": "3"},
        ]
    )

    resp = api.post(RESERVATIONS, body)

    assert resp.status == 201, resp.body
    assert list(resp.body) == RESERVATION_KEYS
    assert resp.body["order_id"] == body["order_id"]
    assert resp.body["status"] == "pending"
    assert resp.body["version"] == 1
    assert resp.body["lines"] == [{"sku": a.sku, "quantity": 1}, {"sku": b.sku, "quantity": 5}]
    assert str(uuid.UUID(resp.body["id"])) == resp.body["id"]
    assert uuid.UUID(resp.body["id"]).version == 4
    assert _stock(a.sku) == (5, 1, 2)
    assert _stock(b.sku) == (10, 5, 2)


def test_get_answers_the_reservation_as_created(api: JsonClient) -> None:
    product = make_product()
    created = api.post(RESERVATIONS, reservation_body([{"sku": product.sku, "quantity": 1}])).body

    resp = api.get(reservation_path(created["id"]))

    assert resp.status == 200
    assert resp.body == created


def test_get_of_an_unknown_reservation_is_404(api: JsonClient) -> None:
    missing = uuid.uuid4()

    resp = api.get(reservation_path(missing))

    assert resp.status == 404
    assert resp.body == {"error": "not_found", "detail": f"Reservation '{missing}' not found."}


@pytest.mark.parametrize(
    "segment",
    ["not-a-uuid", "{u_upper}", "{u_hex}", "urn:uuid:{u}"],
)
@pytest.mark.parametrize("action", ["", "commit", "release"])
def test_an_id_that_is_not_a_lowercase_hyphenated_uuid_is_an_unknown_url(
    api: JsonClient, segment: str, action: str
) -> None:
    u = str(uuid.uuid4())
    path = reservation_path(
        segment.format(u=u, u_upper=u.upper(), u_hex=u.replace("-", "")), action
    )

    resp = api.send("POST" if action else "GET", path)

    assert resp.status == 404
    assert resp.body == {"error": "not_found", "detail": "Not found."}


def test_a_second_reservation_for_the_order_is_a_conflict_whatever_its_status(
    api: JsonClient,
) -> None:
    product = make_product(on_hand=10)
    order_id = random_order_id()
    first = make_reservation([(product.sku, 1)], order_id=order_id)
    api.post(reservation_path(first.id, "release"))

    resp = api.post(
        RESERVATIONS, reservation_body([{"sku": product.sku, "quantity": 1}], order_id=order_id)
    )

    assert resp.status == 409
    assert resp.body == {
        "error": "conflict",
        "detail": f"Order '{order_id}' already has a reservation.",
    }


def test_conflict_is_checked_before_unknown_skus_and_stock(api: JsonClient) -> None:
    product = make_product(on_hand=1)
    order_id = random_order_id()
    make_reservation([(product.sku, 1)], order_id=order_id)

    resp = api.post(
        RESERVATIONS,
        reservation_body(
            [{"sku": "SKU-unknown", "quantity": 1}, {"sku": product.sku, "quantity": 5}],
            order_id=order_id,
        ),
    )

    assert resp.body["error"] == "conflict"


def test_the_first_unknown_sku_in_sku_order_is_the_404(api: JsonClient) -> None:
    suffix = random_suffix()
    known = make_product(sku=f"M-{suffix}", on_hand=1)

    resp = api.post(
        RESERVATIONS,
        reservation_body(
            [
                {"sku": f"Z-{suffix}", "quantity": 1},
                {"sku": known.sku, "quantity": 50},  # short, but 404 comes first
                {"sku": f"C-{suffix}", "quantity": 1},
            ]
        ),
    )

    assert resp.status == 404
    assert resp.body == {"error": "not_found", "detail": f"Product 'C-{suffix}' not found."}
    assert _stock(known.sku) == (1, 0, 1)
    assert not Reservation.objects.exists()


def test_insufficient_stock_lists_every_short_line_and_reserves_nothing(api: JsonClient) -> None:
    suffix = random_suffix()
    plenty = make_product(sku=f"A-{suffix}", on_hand=100)
    short_b = make_product(sku=f"B-{suffix}", on_hand=3)
    short_c = make_product(sku=f"C-{suffix}", on_hand=5)
    make_reservation([(short_c.sku, 4)])
    events_before = OutboxEvent.objects.count()

    resp = api.post(
        RESERVATIONS,
        reservation_body(
            [
                {"sku": short_c.sku, "quantity": 2},
                {"sku": plenty.sku, "quantity": 10},
                {"sku": short_b.sku, "quantity": 2},
                {"sku": short_b.sku, "quantity": 2},
            ]
        ),
    )

    assert resp.status == 409
    assert resp.body == {
        "error": "insufficient_stock",
        "detail": "Insufficient stock.",
        "shortages": [
            {"sku": short_b.sku, "requested": 4, "available": 3},
            {"sku": short_c.sku, "requested": 2, "available": 1},
        ],
    }
    assert _stock(plenty.sku) == (100, 0, 1)
    assert _stock(short_b.sku) == (3, 0, 1)
    assert _stock(short_c.sku) == (5, 4, 2)
    assert Reservation.objects.count() == 1
    assert OutboxEvent.objects.count() == events_before


def test_commit_takes_the_quantities_out_of_stock(api: JsonClient) -> None:
    product = make_product(on_hand=10)
    reservation = make_reservation([(product.sku, 4)])

    resp = api.post(reservation_path(reservation.id, "commit"))

    assert resp.status == 200, resp.body
    assert list(resp.body) == RESERVATION_KEYS
    assert (resp.body["status"], resp.body["version"]) == ("committed", 2)
    assert resp.body["lines"] == [{"sku": product.sku, "quantity": 4}]
    assert resp.body["updated_at"] > resp.body["created_at"]
    assert _stock(product.sku) == (6, 0, 3)


def test_release_gives_the_quantities_back(api: JsonClient) -> None:
    product = make_product(on_hand=10)
    reservation = make_reservation([(product.sku, 4)])

    resp = api.post(reservation_path(reservation.id, "release"))

    assert resp.status == 200, resp.body
    assert (resp.body["status"], resp.body["version"]) == ("released", 2)
    assert _stock(product.sku) == (10, 0, 3)


@pytest.mark.parametrize(
    ("first", "second", "status"),
    [
        ("commit", "commit", "committed"),
        ("commit", "release", "committed"),
        ("release", "release", "released"),
        ("release", "commit", "released"),
    ],
)
def test_settling_twice_is_an_invalid_state(
    api: JsonClient, first: str, second: str, status: str
) -> None:
    product = make_product(on_hand=10)
    reservation = make_reservation([(product.sku, 4)])
    api.post(reservation_path(reservation.id, first))
    stock = _stock(product.sku)

    resp = api.post(reservation_path(reservation.id, second))

    assert resp.status == 409
    assert resp.body == {
        "error": "invalid_state",
        "detail": f"Reservation is {status}, expected pending.",
    }
    assert _stock(product.sku) == stock


@pytest.mark.parametrize("action", ["commit", "release"])
def test_settling_an_unknown_reservation_is_404(api: JsonClient, action: str) -> None:
    missing = uuid.uuid4()

    resp = api.post(reservation_path(missing, action))

    assert resp.status == 404
    assert resp.body == {"error": "not_found", "detail": f"Reservation '{missing}' not found."}


@pytest.mark.parametrize(
    ("raw", "content_type"),
    [(b"{not json", "application/json"), (b"hello", "text/plain"), (b"[1]", "application/json")],
)
@pytest.mark.parametrize("action", ["commit", "release"])
def test_commit_and_release_ignore_any_body(
    api: JsonClient, raw: bytes, content_type: str, action: str
) -> None:
    product = make_product(on_hand=10)
    reservation = make_reservation([(product.sku, 1)])

    resp = api.post(reservation_path(reservation.id, action), raw=raw, content_type=content_type)

    assert resp.status == 200, resp.body


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", RESERVATIONS),
        ("DELETE", "/api/inventory/reservations/{id}/"),
        ("GET", "/api/inventory/reservations/{id}/commit/"),
    ],
)
def test_unsupported_methods_on_reservation_paths_are_405(
    api: JsonClient, method: str, path: str
) -> None:
    resp = api.send(method, path.format(id=uuid.uuid4()))

    assert resp.status == 405
    assert resp.body == {"error": "method_not_allowed", "detail": f'Method "{method}" not allowed.'}
