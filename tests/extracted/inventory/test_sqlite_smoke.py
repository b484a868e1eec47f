"""A smoke run of the embedded mode: the same service and sync on a SQLite file."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session, sessionmaker

from extracted.chassis.web.db import make_engine, make_sessions
from extracted.chassis.web.identity import TokenVerifier
from extracted.inventory.sync import apply_backfill_batch, apply_event, backfill_checkpoint
from tests.extracted.asgi_client import BlockingASGIClient
from tests.extracted.conftest import build_app
from tests.extracted.inventory.factories import envelope, product_state
from tests.support.callers import staff_headers
from tests.support.inventory_api import product_body, reservation_body
from tests.support.random_refs import random_suffix


@pytest.fixture
def sqlite_sessions(sqlite_inventory_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(sqlite_inventory_url)
    yield make_sessions(engine)
    engine.dispose()


@pytest.fixture
def sqlite_client(
    sqlite_inventory_url: str, sqlite_sessions: sessionmaker[Session], token_verifier: TokenVerifier
) -> Iterator[BlockingASGIClient]:
    """A stock writer's client (a staff token on every request)."""
    client = BlockingASGIClient(
        build_app(sqlite_inventory_url, sqlite_sessions, token_verifier), headers=staff_headers()
    )
    yield client
    client.close()


def test_the_api_and_sync_work_on_sqlite(
    sqlite_client: BlockingASGIClient, sqlite_sessions: sessionmaker[Session]
) -> None:
    tag = random_suffix()
    for sku in (f"b{tag}", f"B{tag}", f"_{tag}"):
        assert (
            sqlite_client.post(
                "/api/inventory/products/", json=product_body(sku=sku, price="0.1")
            ).status_code
            == 201
        )
    listing = sqlite_client.get("/api/inventory/products/").json()
    assert [p["sku"] for p in listing["results"]] == [f"B{tag}", f"_{tag}", f"b{tag}"]
    assert listing["results"][0]["price"] == "0.10"
    reserved = sqlite_client.post(
        "/api/inventory/reservations/", json=reservation_body([(f"b{tag}", 4)])
    )
    assert reserved.status_code == 201
    committed = sqlite_client.post(f"/api/inventory/reservations/{reserved.json()['id']}/commit/")
    assert committed.json()["status"] == "committed"
    dry = sqlite_client.post(
        "/api/inventory/products/", json=product_body(), headers={"X-Strangler-Dry-Run": "1"}
    )
    assert dry.status_code == 201
    assert sqlite_client.get(f"/api/inventory/products/{dry.json()['sku']}/").status_code == 404

    event = envelope(product_state(version=2, price="3.30"))
    assert apply_event(event, sessions=sqlite_sessions) == "applied"
    assert apply_event(event, sessions=sqlite_sessions) == "duplicate"
    synced = sqlite_client.get(f"/api/inventory/products/{event['aggregate_id']}/").json()
    assert (synced["price"], synced["version"], synced["updated_at"]) == (
        "3.30",
        2,
        "2026-11-24T23:17:03.123456Z",
    )
    batch = apply_backfill_batch(
        job="p",
        aggregate_type="product",
        rows=[product_state()],
        after_key=None,
        last_key="k",
        done=True,
        sessions=sqlite_sessions,
    )
    assert (batch.taken, batch.written) == (True, 1)
    checkpoint = backfill_checkpoint("p", sessions=sqlite_sessions)
    assert checkpoint is not None and (checkpoint.rows, checkpoint.done) == (1, True)
    assert checkpoint == batch.checkpoint
    late = apply_backfill_batch(
        job="p",
        aggregate_type="product",
        rows=[product_state()],
        after_key="k",
        last_key="l",
        done=True,
        sessions=sqlite_sessions,
    )
    assert not late.taken and backfill_checkpoint("p", sessions=sqlite_sessions) == checkpoint
    assert sqlite_client.get("/health/ready").json() == {"status": "ok"}
