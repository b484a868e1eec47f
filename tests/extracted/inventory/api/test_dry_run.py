"""Dry runs: the answer a write would give, the marker header, and nothing persisted."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from extracted.inventory.models import OutboxEvent, Product, Reservation
from tests.extracted.asgi_client import BlockingASGIClient
from tests.extracted.inventory.api.helpers import create_product, product
from tests.support.inventory_api import PRODUCTS, RESERVATIONS, product_body, reservation_body

DRY = {"X-Strangler-Dry-Run": "1"}


def counts(sessions: sessionmaker[Session]) -> tuple[int, int, int]:
    with sessions() as session:
        return tuple(  # type: ignore[return-value]
            session.scalar(select(func.count()).select_from(model)) or 0
            for model in (Product, Reservation, OutboxEvent)
        )


def test_dry_run_writes_answer_but_persist_nothing(
    client: BlockingASGIClient, sessions: sessionmaker[Session]
) -> None:
    sku = create_product(client, on_hand=4)["sku"]
    before = counts(sessions)
    body = product_body()
    created = client.post(PRODUCTS, json=body, headers=DRY)
    assert created.status_code == 201 and created.json()["sku"] == body["sku"]
    assert created.headers["x-strangler-dry-run"] == "rolled-back"
    adjusted = client.post(
        f"{PRODUCTS}{sku}/adjustments/", json={"delta": 3, "reason": "x"}, headers=DRY
    )
    assert adjusted.json()["on_hand"] == 7
    reserved = client.post(RESERVATIONS, json=reservation_body([(sku, 4)]), headers=DRY)
    assert reserved.status_code == 201
    refused = client.post(PRODUCTS, json={}, headers=DRY)
    assert refused.status_code == 400 and refused.headers["x-strangler-dry-run"] == "rolled-back"
    assert counts(sessions) == before
    state = product(client, sku)
    assert (state["on_hand"], state["reserved"], state["version"]) == (4, 0, 1)
    assert client.get(f"{PRODUCTS}{body['sku']}/").status_code == 404


def test_reads_ignore_the_header_and_bad_values_are_refused(client: BlockingASGIClient) -> None:
    assert "x-strangler-dry-run" not in client.get(PRODUCTS, headers=DRY).headers
    resp = client.post(PRODUCTS, json=product_body(), headers={"X-Strangler-Dry-Run": "true"})
    assert (resp.status_code, resp.json()) == (
        400,
        {
            "error": "malformed_request",
            "detail": 'X-Strangler-Dry-Run must be "1" when present on a write.',
        },
    )
    assert "x-strangler-dry-run" not in resp.headers
