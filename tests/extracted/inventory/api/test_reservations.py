"""Reservations over HTTP (in-process, real PostgreSQL): reserve, commit, release, refusals."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from extracted.inventory.models import OutboxEvent
from tests.extracted.asgi_client import BlockingASGIClient
from tests.extracted.inventory.api.helpers import create_product, create_reservation, product
from tests.support.inventory_api import RESERVATIONS, reservation_body
from tests.support.random_refs import random_sku


def test_reserve_merges_lines_sorts_them_and_bumps_each_product(
    client: BlockingASGIClient, sessions: sessionmaker[Session]
) -> None:
    b = create_product(client, sku=random_sku("b"), on_hand=5)["sku"]
    a = create_product(client, sku=random_sku("a"), on_hand=5)["sku"]
    body = reservation_body([(b, 1), (a, 2), (b, 2)])
    resp = client.post(RESERVATIONS, json=body)
    assert resp.status_code == 201
    created = resp.json()
    assert list(created) == [
        "id",
        "order_id",
        "status",
        "lines",
        "version",
        "created_at",
        "updated_at",
    ]
    assert uuid.UUID(created["id"]).version == 4
    assert (created["order_id"], created["status"], created["version"]) == (
        body["order_id"],
        "pending",
        1,
    )
    assert created["lines"] == [{"sku": a, "quantity": 2}, {"sku": b, "quantity": 3}]
    assert client.get(f"{RESERVATIONS}{created['id']}/").json() == created
    for sku, reserved in ((a, 2), (b, 3)):
        state = product(client, sku)
        assert (state["reserved"], state["available"], state["version"]) == (
            reserved,
            5 - reserved,
            2,
        )
    with sessions() as session:
        events = session.scalar(
            select(func.count())
            .select_from(OutboxEvent)
            .where(OutboxEvent.aggregate_id == created["id"])
        )
    assert events == 1


def test_commit_takes_stock_out_and_release_gives_it_back(client: BlockingASGIClient) -> None:
    sku = create_product(client, on_hand=5)["sku"]
    first = create_reservation(client, [(sku, 2)])
    committed = client.post(f"{RESERVATIONS}{first['id']}/commit/", content=b"ignored")
    assert committed.status_code == 200
    assert (committed.json()["status"], committed.json()["version"]) == ("committed", 2)
    after_commit = product(client, sku)
    assert (after_commit["on_hand"], after_commit["reserved"], after_commit["version"]) == (3, 0, 3)
    second = create_reservation(client, [(sku, 3)])
    released = client.post(f"{RESERVATIONS}{second['id']}/release/")
    assert released.json()["status"] == "released"
    after_release = product(client, sku)
    assert (after_release["on_hand"], after_release["reserved"], after_release["version"]) == (
        3,
        0,
        5,
    )
    again = client.post(f"{RESERVATIONS}{second['id']}/commit/")
    assert (again.status_code, again.json()) == (
        409,
        {"error": "invalid_state", "detail": "Reservation is released, expected pending."},
    )


def test_refusals_come_in_the_contract_order(client: BlockingASGIClient) -> None:
    sku = create_product(client, on_hand=1)["sku"]
    taken = create_reservation(client, [(sku, 1)])
    conflict = client.post(
        RESERVATIONS, json={"order_id": taken["order_id"], "lines": [{"sku": "zz", "quantity": 9}]}
    )
    assert (conflict.status_code, conflict.json()) == (
        409,
        {"error": "conflict", "detail": f"Order '{taken['order_id']}' already has a reservation."},
    )
    unknown = client.post(RESERVATIONS, json=reservation_body([("zz-2", 1), ("zz-1", 1), (sku, 9)]))
    assert (unknown.status_code, unknown.json()) == (
        404,
        {"error": "not_found", "detail": "Product 'zz-1' not found."},
    )
    other = create_product(client, on_hand=2)["sku"]
    short = client.post(RESERVATIONS, json=reservation_body([(other, 1), (sku, 1), (other, 2)]))
    assert (short.status_code, short.json()) == (
        409,
        {
            "error": "insufficient_stock",
            "detail": "Insufficient stock.",
            "shortages": sorted(
                [
                    {"sku": sku, "requested": 1, "available": 0},
                    {"sku": other, "requested": 3, "available": 2},
                ],
                key=lambda s: str(s["sku"]),
            ),
        },
    )
    assert product(client, other)["reserved"] == 0  # nothing reserved on a refusal


def test_validation_of_lines(client: BlockingASGIClient) -> None:
    resp = client.post(
        RESERVATIONS,
        json={"order_id": "nope", "lines": [1, {"sku": "", "quantity": 0}, None]},
    )
    assert resp.json() == {
        "error": "validation_error",
        "detail": "Invalid input.",
        "fields": {
            "lines.0.non_field_errors": ["Invalid data. Expected a dictionary, but got int."],
            "lines.1.quantity": ["Ensure this value is greater than or equal to 1."],
            "lines.1.sku": ["This field may not be blank."],
            "lines.2": ["This field may not be null."],
            "order_id": ["Must be a valid UUID."],
        },
    }
    too_many = client.post(RESERVATIONS, json=reservation_body([("", 0)] * 101))
    assert too_many.json()["fields"] == {
        "lines": ["Ensure this field has no more than 100 elements."]
    }
    for lines, message in (
        ({}, 'Expected a list of items but got type "dict".'),
        ([], "This list may not be empty."),
    ):
        assert client.post(
            RESERVATIONS, json={"order_id": str(uuid.uuid4()), "lines": lines}
        ).json()["fields"] == {"lines": [message]}


def test_reservation_paths(client: BlockingASGIClient) -> None:
    missing = uuid.uuid4()
    for method, suffix in (("GET", ""), ("POST", "commit/"), ("POST", "release/")):
        resp = client.request(method, f"{RESERVATIONS}{missing}/{suffix}")
        assert (resp.status_code, resp.json()) == (
            404,
            {"error": "not_found", "detail": f"Reservation '{missing}' not found."},
        )
    for segment in (str(missing).upper(), missing.hex, "nope"):
        resp = client.get(f"{RESERVATIONS}{segment}/")
        assert (resp.status_code, resp.json()) == (
            404,
            {"error": "not_found", "detail": "Not found."},
        )
    resp = client.get(f"{RESERVATIONS}{missing}/commit/")
    assert resp.status_code == 405
