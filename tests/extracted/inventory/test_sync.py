"""``extracted.inventory.sync`` events on real PostgreSQL: dedup, version order, reservations.
(Backfill batches: test_backfill_batches.py.)"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from extracted.inventory.models import OutboxEvent, ProcessedEvent, Product
from extracted.inventory.sync import SyncInputError, apply_event
from tests.extracted.asgi_client import BlockingASGIClient
from tests.extracted.inventory.factories import envelope, product_state, reservation_state
from tests.support.random_refs import random_sku


def stored(sessions: sessionmaker[Session], sku: str) -> Product | None:
    with sessions() as session:
        return session.get(Product, sku)


def count(sessions: sessionmaker[Session], model: Any) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_the_same_event_twice_has_one_effect(sessions: sessionmaker[Session]) -> None:
    event = envelope(product_state(version=1, on_hand=7))
    assert apply_event(event, sessions=sessions) == "applied"
    assert apply_event(event, sessions=sessions) == "duplicate"
    row = stored(sessions, event["aggregate_id"])
    assert row is not None and (row.on_hand, row.version) == (7, 1)
    assert count(sessions, ProcessedEvent) == 1
    assert count(sessions, OutboxEvent) == 0  # applying never records an own-outbox event


def test_out_of_order_delivery_keeps_the_newest(sessions: sessionmaker[Session]) -> None:
    sku = random_sku()
    assert (
        apply_event(envelope(product_state(sku=sku, version=3, on_hand=30)), sessions=sessions)
        == "applied"
    )
    assert (
        apply_event(envelope(product_state(sku=sku, version=2, on_hand=20)), sessions=sessions)
        == "stale"
    )
    assert (
        apply_event(envelope(product_state(sku=sku, version=3, on_hand=99)), sessions=sessions)
        == "stale"
    )
    row = stored(sessions, sku)
    assert row is not None and (row.on_hand, row.version) == (30, 3)
    assert (
        apply_event(envelope(product_state(sku=sku, version=4, on_hand=40)), sessions=sessions)
        == "applied"
    )
    row = stored(sessions, sku)
    assert row is not None and (row.on_hand, row.version) == (40, 4)
    with sessions() as session:
        outcomes = sorted(session.scalars(select(ProcessedEvent.outcome)).all())
    assert outcomes == ["applied", "applied", "stale", "stale"]


def test_a_synced_row_answers_byte_for_byte_like_its_payload(
    sessions: sessionmaker[Session], client: BlockingASGIClient
) -> None:
    state = product_state(version=5, price="7.5", reserved=3, on_hand=10)
    apply_event(envelope(state), sessions=sessions)
    body = client.get(f"/api/inventory/products/{state['sku']}/").json()
    assert body == {
        "sku": state["sku"],
        "name": state["name"],
        "price": "7.50",
        "on_hand": 10,
        "reserved": 3,
        "available": 7,
        "version": 5,
        "created_at": "2026-11-24T23:17:01.123456Z",
        "updated_at": "2026-11-24T23:17:06.123456Z",
    }


def test_reservation_events_replace_the_lines(
    sessions: sessionmaker[Session], client: BlockingASGIClient
) -> None:
    a, b = sorted([random_sku("a"), random_sku("b")])
    v1 = reservation_state(lines=[(b, 1), (a, 2)])
    rid = v1["id"]
    assert apply_event(envelope(v1, aggregate_type="reservation"), sessions=sessions) == "applied"
    v2 = reservation_state(lines=[(b, 4)], reservation_id=rid, version=2, status="committed")
    v2["order_id"] = v1["order_id"]
    assert apply_event(envelope(v2, aggregate_type="reservation"), sessions=sessions) == "applied"
    stale = envelope({**v1}, aggregate_type="reservation")
    assert apply_event(stale, sessions=sessions) == "stale"
    body = client.get(f"/api/inventory/reservations/{rid}/").json()
    assert (body["status"], body["version"], body["lines"]) == (
        "committed",
        2,
        [{"sku": b, "quantity": 4}],
    )


def test_bad_envelopes_are_refused_before_anything_changes(sessions: sessionmaker[Session]) -> None:
    good = envelope(product_state())
    for broken in (
        {**good, "version": 0},
        {**good, "aggregate_type": "order"},
        {**good, "payload": {**good["payload"], "on_hand": "many"}},
        {**good, "version": good["version"] + 1},
    ):
        with pytest.raises(SyncInputError):
            apply_event(broken, sessions=sessions)
    assert count(sessions, ProcessedEvent) == 0
    assert count(sessions, Product) == 0
