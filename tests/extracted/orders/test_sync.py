"""``extracted.orders.sync`` on real PostgreSQL: order events (lines included) applied by version
with event-id dedup, poison refused with nothing applied, concurrent first versions never collide,
and the subscriber's internal endpoints (stats, dead letters, metrics) over the app."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from contracts.events import ORDER_PLACED, EventEnvelope
from extracted.chassis.web.db import make_engine, make_sessions
from extracted.orders import migrate, sync
from extracted.orders.models import Order, OrderLine, OutboxEvent, ProcessedEvent, Saga
from extracted.orders.sync import SyncInputError, apply_event, apply_events, apply_order_states
from tests.extracted.asgi_client import BlockingASGIClient
from tests.extracted.orders.factories import line, order_state
from tests.support.at_once import run_at_once
from tests.support.random_refs import random_sku


def envelope(payload: dict[str, Any]) -> dict[str, Any]:
    return EventEnvelope(
        event_id=uuid.uuid4(),
        seq=payload["version"],
        aggregate_type="order",
        aggregate_id=str(payload["id"]),
        event_type=ORDER_PLACED,
        version=payload["version"],
        occurred_at=datetime.now(UTC),
        payload=payload,
    ).model_dump(mode="json")


def stored(sessions: sessionmaker[Session], order_id: str) -> tuple[Any, ...] | None:
    """(status, cancel_reason, total, version, lines as (sku, quantity, unit_price, line_total))."""
    with sessions() as session:
        order = session.get(Order, uuid.UUID(order_id))
        if order is None:
            return None
        lines = sorted(
            (ln.sku, ln.quantity, str(ln.unit_price), str(ln.line_total)) for ln in order.lines
        )
        return (order.status, order.cancel_reason, str(order.total), order.version, lines)


def count(sessions: sessionmaker[Session], model: Any) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_the_same_event_twice_has_one_effect(sessions: sessionmaker[Session]) -> None:
    state = order_state()
    event = envelope(state)
    assert apply_event(event, sessions=sessions) == "applied"
    assert apply_event(event, sessions=sessions) == "duplicate"
    shown = stored(sessions, state["id"])
    assert shown is not None and shown[:4] == ("confirmed", None, "12.50", 1)
    assert shown[4] == sorted(
        (ln["sku"], ln["quantity"], ln["unit_price"], ln["line_total"]) for ln in state["lines"]
    )
    assert count(sessions, ProcessedEvent) == 1
    assert count(sessions, OutboxEvent) == 0  # applying never records an own-outbox event
    assert count(sessions, Saga) == 0  # the monolith ran the checkout: no saga here


def test_out_of_order_delivery_keeps_the_newest(sessions: sessionmaker[Session]) -> None:
    placed = order_state()
    cancelled = {**placed, "version": 2, "status": "cancelled", "cancel_reason": "by_customer"}
    other_lines = {**placed, "version": 3, "status": "cancelled", "cancel_reason": "by_staff"}
    other_lines["lines"] = [line(random_sku(), 5, "2.50")]

    assert apply_event(envelope(cancelled), sessions=sessions) == "applied"
    assert apply_event(envelope(placed), sessions=sessions) == "stale"
    assert apply_event(envelope({**cancelled, "total": "99.00"}), sessions=sessions) == "stale"
    shown = stored(sessions, placed["id"])
    assert shown is not None and shown[:4] == ("cancelled", "by_customer", "12.50", 2)
    assert len(shown[4]) == 2
    assert apply_event(envelope(other_lines), sessions=sessions) == "applied"
    shown = stored(sessions, placed["id"])
    assert shown is not None and shown[:4] == ("cancelled", "by_staff", "12.50", 3)
    assert [ln[0] for ln in shown[4]] == [other_lines["lines"][0]["sku"]]  # lines replaced
    assert count(sessions, OrderLine) == 1


def test_a_batch_keeps_its_newest_row(sessions: sessionmaker[Session]) -> None:
    first = order_state()
    second = {**first, "version": 2, "status": "fulfilled"}
    with sessions.begin() as session:
        assert apply_order_states(session, [second, first]) == 1
    with sessions.begin() as session:
        assert apply_order_states(session, [first]) == 0
    shown = stored(sessions, first["id"])
    assert shown is not None and shown[3] == 2


def test_a_batch_applies_in_one_transaction_each_event_as_alone(
    sessions: sessionmaker[Session],
) -> None:
    placed = order_state()
    cancelled = {**placed, "version": 2, "status": "cancelled", "cancel_reason": "by_customer"}
    other = order_state()
    seen = envelope({**other, "version": 2})
    assert apply_event(seen, sessions=sessions) == "applied"

    batch = [envelope(cancelled), envelope(placed), envelope(other), seen, envelope(order_state())]
    # Applied in aggregate order (version 1 before 2), outcomes reported in the order given.
    outcomes = apply_events(batch, sessions=sessions)
    assert outcomes == ["applied", "applied", "stale", "duplicate", "applied"]
    shown = stored(sessions, placed["id"])
    assert shown is not None and shown[:4] == ("cancelled", "by_customer", "12.50", 2)
    assert count(sessions, Order) == 3
    assert count(sessions, ProcessedEvent) == 5


def test_a_batch_with_a_poison_event_applies_nothing(sessions: sessionmaker[Session]) -> None:
    good = envelope(order_state())
    poison = envelope(order_state(status="lost"))
    with pytest.raises(SyncInputError):
        apply_events([good, poison], sessions=sessions)
    assert count(sessions, Order) == 0
    assert count(sessions, ProcessedEvent) == 0


@pytest.mark.parametrize(
    "spoil",
    [
        pytest.param(lambda e: {**e, "version": e["version"] + 1}, id="version-differs"),
        pytest.param(lambda e: {**e, "payload": {**e["payload"], "status": "lost"}}, id="status"),
        pytest.param(lambda e: {**e, "aggregate_type": "payment"}, id="not-an-order"),
        pytest.param(lambda e: {**e, "payload": {**e["payload"], "extra": 1}}, id="extra-field"),
    ],
)
def test_an_event_that_breaks_the_contract_is_refused_and_nothing_applied(
    sessions: sessionmaker[Session], spoil: Any
) -> None:
    with pytest.raises(SyncInputError):
        apply_event(spoil(envelope(order_state())), sessions=sessions)
    assert count(sessions, Order) == 0
    assert count(sessions, ProcessedEvent) == 0


def test_two_versions_of_a_new_order_applied_at_once_never_collide(
    sessions: sessionmaker[Session],
) -> None:
    for _ in range(10):
        first = order_state()
        events = [envelope(first), envelope({**first, "version": 2, "status": "fulfilled"})]
        outcomes, errors = run_at_once(
            [partial(apply_event, event, sessions=sessions) for event in events]
        )
        assert errors == []
        assert sorted(outcomes) in (["applied", "applied"], ["applied", "stale"])
        shown = stored(sessions, first["id"])
        assert shown is not None and (shown[0], shown[3], len(shown[4])) == ("fulfilled", 2, 2)


def test_stats_dead_letters_and_metrics_over_the_app(
    client: BlockingASGIClient, internal: BlockingASGIClient, sessions: sessionmaker[Session]
) -> None:
    assert apply_event(envelope(order_state()), sessions=sessions) == "applied"
    # A bug on the service's side, played by a CHECK constraint the monolith does not have.
    with sessions.begin() as session:
        session.execute(text("ALTER TABLE orders ADD CONSTRAINT test_bug CHECK (total <> 77)"))
    poison = envelope(order_state(total="77.00"))
    with pytest.raises(IntegrityError) as refused:
        apply_event(poison, sessions=sessions)
    letter = sync.park_event(poison, refused.value, sessions=sessions)

    stats = client.get("/internal/sync/stats").json()
    assert stats["events_processed"] == stats["events_applied"] == 1
    assert (stats["events_skipped"], stats["dead_letters"], stats["backfills"]) == (0, 1, [])
    listed = client.get("/internal/sync/dead-letters").json()
    assert [d["event_id"] for d in listed["dead_letters"]] == [poison["event_id"]]
    assert "test_bug" in listed["dead_letters"][0]["error"]
    again = internal.post("/internal/sync/dead-letters/replay", json={"ids": [letter]}).json()
    assert again["results"][0]["result"] == "failed"

    metrics = client.get("/metrics").text
    assert 'strangler_sync_commit_to_applied_seconds_count{capability="orders"} 1.0' in metrics
    assert 'strangler_sync_dead_letters{capability="orders"} 1.0' in metrics
    assert "orders_sagas_stuck" in metrics  # the service's own metrics are still there

    with sessions.begin() as session:
        session.execute(text("ALTER TABLE orders DROP CONSTRAINT test_bug"))
    replayed = internal.post("/internal/sync/dead-letters/replay", json={"all": True}).json()
    assert [(r["result"], r["outcome"]) for r in replayed["results"]] == [("replayed", "applied")]
    assert client.get("/internal/sync/stats").json()["dead_letters"] == 0
    shown = stored(sessions, poison["aggregate_id"])
    assert shown is not None and shown[2:4] == ("77.00", 1)


def test_the_embedded_default_sqlite_applies_by_version_too(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'orders.sqlite3'}"
    migrate.upgrade(url)
    engine = make_engine(url)
    try:
        lite = make_sessions(engine)
        first = order_state()
        second = {**first, "version": 2, "status": "fulfilled"}
        assert apply_event(envelope(second), sessions=lite) == "applied"
        event = envelope(first)
        assert apply_event(event, sessions=lite) == "stale"
        assert apply_event(event, sessions=lite) == "duplicate"
        shown = stored(lite, first["id"])
        assert shown is not None and (shown[0], shown[3], len(shown[4])) == ("fulfilled", 2, 2)
    finally:
        engine.dispose()
