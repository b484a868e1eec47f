"""``extracted.inventory.sync`` events on real PostgreSQL: dedup, version order, reservations.
(Backfill batches: test_backfill_batches.py.)"""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from extracted.inventory.models import OutboxEvent, ProcessedEvent, Product
from extracted.inventory.sync import SyncInputError, apply_event, apply_events
from tests.extracted.asgi_client import BlockingASGIClient
from tests.extracted.inventory.factories import envelope, product_state, reservation_state
from tests.support.at_once import run_at_once
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


def outcomes_stored(sessions: sessionmaker[Session]) -> dict[str, str]:
    with sessions() as session:
        rows = session.execute(select(ProcessedEvent.event_id, ProcessedEvent.outcome)).all()
    return {str(event_id): outcome for event_id, outcome in rows}


def test_a_batch_gives_each_event_the_outcome_it_would_have_alone(
    sessions: sessionmaker[Session],
) -> None:
    """One multi-row claim and one upsert per round (``EventApplier.apply_many``) must answer
    and record exactly what applying the events one by one in aggregate order would."""
    sku, other, old = sorted([random_sku("a"), random_sku("b"), random_sku("c")])
    seen = envelope(product_state(sku=old, version=5, on_hand=50))
    assert apply_event(seen, sessions=sessions) == "applied"
    v1, v2, v3 = (envelope(product_state(sku=sku, version=v, on_hand=v)) for v in (1, 2, 3))
    # Version 2 twice under two event ids: whichever sorts first is applied, the other is stale.
    twin = envelope(product_state(sku=sku, version=2, on_hand=2))
    fresh = envelope(product_state(sku=other, version=1, on_hand=7))
    behind = envelope(product_state(sku=old, version=4, on_hand=40))
    ahead = envelope(product_state(sku=old, version=6, on_hand=60))

    batch = [v3, behind, v1, seen, fresh, v2, twin, ahead, v1]
    outcomes = apply_events(batch, sessions=sessions)

    first_two = "applied" if v2["event_id"] < twin["event_id"] else "stale"
    second_two = "stale" if first_two == "applied" else "applied"
    # v3 after v1 and v2 of its row (oldest first); version 4 of a row stored at 5 is stale;
    # an event processed before the batch, and the second copy of v1, are duplicates.
    assert outcomes == [
        "applied",
        "stale",
        "applied",
        "duplicate",
        "applied",
        first_two,
        second_two,
        "applied",
        "duplicate",
    ]
    for key, on_hand, version in ((sku, 3, 3), (other, 7, 1), (old, 60, 6)):
        row = stored(sessions, key)
        assert row is not None and (row.on_hand, row.version) == (on_hand, version)
    recorded = outcomes_stored(sessions)
    assert len(recorded) == 8  # every distinct event once, the one processed before included
    for event, outcome in zip(batch[:-1], outcomes[:-1], strict=True):
        if event is not seen:
            assert recorded[event["event_id"]] == outcome
    # Redelivered whole, the batch changes nothing.
    assert apply_events(batch, sessions=sessions) == ["duplicate"] * len(batch)
    row = stored(sessions, sku)
    assert row is not None and (row.on_hand, row.version) == (3, 3)


def test_a_batch_of_reservations_and_products_replaces_the_lines(
    sessions: sessionmaker[Session], client: BlockingASGIClient
) -> None:
    a, b = sorted([random_sku("a"), random_sku("b")])
    v1 = reservation_state(lines=[(b, 1), (a, 2)])
    v2 = reservation_state(lines=[(b, 4)], reservation_id=v1["id"], version=2, status="committed")
    v2["order_id"] = v1["order_id"]
    other = reservation_state(lines=[(a, 5)])
    batch = [
        envelope(v2, aggregate_type="reservation"),
        envelope(product_state(sku=a)),
        envelope(other, aggregate_type="reservation"),
        envelope(v1, aggregate_type="reservation"),
    ]
    assert apply_events(batch, sessions=sessions) == ["applied"] * 4
    body = client.get(f"/api/inventory/reservations/{v1['id']}/").json()
    assert (body["status"], body["version"], body["lines"]) == (
        "committed",
        2,
        [{"sku": b, "quantity": 4}],
    )
    body = client.get(f"/api/inventory/reservations/{other['id']}/").json()
    assert body["lines"] == [{"sku": a, "quantity": 5}]


def test_a_batch_with_a_poison_event_applies_nothing(sessions: sessionmaker[Session]) -> None:
    good = envelope(product_state())
    poison = envelope(product_state())
    poison["payload"]["on_hand"] = "many"
    with pytest.raises(SyncInputError):
        apply_events([good, poison], sessions=sessions)
    assert count(sessions, ProcessedEvent) == 0
    assert count(sessions, Product) == 0
    assert apply_events([good], sessions=sessions) == ["applied"]


def test_overlapping_batches_applied_at_once_never_deadlock_and_apply_each_event_once(
    sessions: sessionmaker[Session],
) -> None:
    """Two workers holding redelivered copies of overlapping batches, in different orders:
    claims and rows are locked in aggregate order, so neither waits on the other in a cycle,
    and every event is applied by exactly one of them."""
    skus = sorted(random_sku(f"r{i}") for i in range(6))
    for _ in range(5):
        events = [envelope(product_state(sku=sku, version=v)) for v in (1, 2) for sku in skus]
        first, second = events[:9], list(reversed(events[3:]))
        results, errors = run_at_once(
            [
                partial(apply_events, first, sessions=sessions),
                partial(apply_events, second, sessions=sessions),
            ]
        )
        assert errors == []
        outcomes = [o for result in results for o in result]
        assert outcomes.count("applied") + outcomes.count("stale") == len(events)
        for sku in skus:
            row = stored(sessions, sku)
            assert row is not None and row.version == 2
        with sessions.begin() as session:
            session.execute(delete(ProcessedEvent))
            session.execute(delete(Product))
