"""``extracted.payments.sync`` on real PostgreSQL: payment events applied by version with event-id
dedup, poison refused with nothing applied, concurrent first versions never collide, and the
subscriber's internal endpoints (stats, dead letters, metrics) over the app."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from contracts.events import PAYMENT_CAPTURED, EventEnvelope
from extracted.chassis.web.db import make_engine, make_sessions
from extracted.payments import migrate, sync
from extracted.payments.models import OutboxEvent, Payment, ProcessedEvent
from extracted.payments.sync import SyncInputError, apply_event, apply_events
from monolith.identity.models import User
from tests.extracted.asgi_client import BlockingASGIClient
from tests.extracted.payments.conftest import bearer
from tests.support.at_once import run_at_once
from tests.support.payments_api import payment_path

T0 = datetime(2026, 11, 1, 12, 0, 0, 123456, tzinfo=UTC)


def payment_state(customer: User, **changes: Any) -> dict[str, Any]:
    version = changes.get("version", 1)
    row: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "customer_id": str(customer.id),
        "order_id": None,
        "amount": "50.00",
        "status": "captured",
        "captured_amount": "50.00",
        "refunded_amount": "0.00",
        "decline_reason": None,
        "gateway_reference": "gw_000000000000000000000000",
        "refunds": [],
        "version": 1,
        "created_at": T0.isoformat(),
        "updated_at": (T0 + timedelta(seconds=version)).isoformat(),
    }
    return {**row, **changes}


def envelope(payload: dict[str, Any], **changes: Any) -> dict[str, Any]:
    event = EventEnvelope(
        event_id=uuid.uuid4(),
        seq=payload["version"],
        aggregate_type="payment",
        aggregate_id=str(payload["id"]),
        event_type=PAYMENT_CAPTURED,
        version=payload["version"],
        occurred_at=datetime.now(UTC),
        payload=payload,
    ).model_dump(mode="json")
    return {**event, **changes}


def stored(sessions: sessionmaker[Session], payment_id: str) -> Payment | None:
    with sessions() as session:
        return session.get(Payment, uuid.UUID(payment_id))


def count(sessions: sessionmaker[Session], model: Any) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_the_same_event_twice_has_one_effect(
    sessions: sessionmaker[Session], customer: User
) -> None:
    event = envelope(payment_state(customer))
    assert apply_event(event, sessions=sessions) == "applied"
    assert apply_event(event, sessions=sessions) == "duplicate"
    row = stored(sessions, event["aggregate_id"])
    assert row is not None and (row.status, row.version) == ("captured", 1)
    assert count(sessions, ProcessedEvent) == 1
    assert count(sessions, OutboxEvent) == 0  # applying never records an own-outbox event


def test_out_of_order_delivery_keeps_the_newest_refunds_included(
    sessions: sessionmaker[Session], customer: User
) -> None:
    first = payment_state(customer)
    refund = {"id": str(uuid.uuid4()), "amount": "20.00", "created_at": T0.isoformat()}
    second = {**first, "version": 2, "refunded_amount": "20.00", "refunds": [refund]}
    third = {**second, "version": 3, "status": "refunded", "refunded_amount": "50.00"}
    third["refunds"] = [refund, {**refund, "id": str(uuid.uuid4()), "amount": "30.00"}]

    assert apply_event(envelope(second), sessions=sessions) == "applied"
    assert apply_event(envelope(first), sessions=sessions) == "stale"
    assert apply_event(envelope({**second, "amount": "99.00"}), sessions=sessions) == "stale"
    row = stored(sessions, first["id"])
    assert row is not None and (row.version, str(row.amount), len(row.refunds)) == (2, "50.00", 1)
    assert apply_event(envelope(third), sessions=sessions) == "applied"
    row = stored(sessions, first["id"])
    assert row is not None and (row.version, row.status, len(row.refunds)) == (3, "refunded", 2)
    with sessions() as session:
        outcomes = sorted(session.scalars(select(ProcessedEvent.outcome)))
    assert outcomes == ["applied", "applied", "stale", "stale"]


@pytest.mark.parametrize(
    "spoil",
    [
        pytest.param(lambda e: {**e, "version": e["version"] + 1}, id="version-differs"),
        pytest.param(lambda e: {**e, "payload": {**e["payload"], "status": "lost"}}, id="status"),
        pytest.param(lambda e: {**e, "aggregate_type": "product"}, id="not-a-payment"),
        pytest.param(lambda e: {k: v for k, v in e.items() if k != "event_id"}, id="no-id"),
    ],
)
def test_an_event_that_breaks_the_contract_is_refused_and_nothing_applied(
    sessions: sessionmaker[Session], customer: User, spoil: Any
) -> None:
    event = spoil(envelope(payment_state(customer)))
    with pytest.raises(SyncInputError):
        apply_event(event, sessions=sessions)
    assert count(sessions, Payment) == 0
    assert count(sessions, ProcessedEvent) == 0


def test_a_batch_applies_in_one_transaction_each_event_as_alone(
    sessions: sessionmaker[Session], customer: User
) -> None:
    first = payment_state(customer)
    second = {**first, "version": 2, "status": "refunded", "refunded_amount": "50.00"}
    other = payment_state(customer)
    seen = envelope({**other, "version": 2})
    assert apply_event(seen, sessions=sessions) == "applied"

    batch = [envelope(second), envelope(first), envelope(other), seen]
    batch.append(envelope(payment_state(customer)))
    # Applied in aggregate order (version 1 before 2), outcomes reported in the order given.
    outcomes = apply_events(batch, sessions=sessions)
    assert outcomes == ["applied", "applied", "stale", "duplicate", "applied"]
    row = stored(sessions, first["id"])
    assert row is not None and (row.status, row.version) == ("refunded", 2)
    assert count(sessions, Payment) == 3
    assert count(sessions, ProcessedEvent) == 5


def test_a_batch_with_a_poison_event_applies_nothing(
    sessions: sessionmaker[Session], customer: User
) -> None:
    good = envelope(payment_state(customer))
    poison = envelope(payment_state(customer, status="lost"))
    with pytest.raises(SyncInputError):
        apply_events([good, poison], sessions=sessions)
    assert count(sessions, Payment) == 0
    assert count(sessions, ProcessedEvent) == 0


def test_two_versions_of_a_new_payment_applied_at_once_never_collide(
    sessions: sessionmaker[Session], customer: User
) -> None:
    """Two workers racing on a payment this database does not hold yet: the create does not
    fail on the primary key (it would be parked as poison), and the newest version wins."""
    for _ in range(10):
        first = payment_state(customer)
        events = [envelope(first), envelope({**first, "version": 2, "status": "voided"})]
        outcomes, errors = run_at_once(
            [partial(apply_event, event, sessions=sessions) for event in events]
        )
        assert errors == []
        assert sorted(outcomes) in (["applied", "applied"], ["applied", "stale"])
        row = stored(sessions, first["id"])
        assert row is not None and (row.version, row.status) == (2, "voided")


def test_stats_dead_letters_and_metrics_over_the_app(
    client: BlockingASGIClient,
    internal: BlockingASGIClient,
    sessions: sessionmaker[Session],
    customer: User,
) -> None:
    good = envelope(payment_state(customer))
    assert apply_event(good, sessions=sessions) == "applied"
    # A bug on the service's side, played by a CHECK constraint the monolith does not have.
    with sessions.begin() as session:
        session.execute(text("ALTER TABLE payments ADD CONSTRAINT test_bug CHECK (amount <> 77)"))
    poison = envelope(payment_state(customer, amount="77.00", captured_amount="77.00"))
    with pytest.raises(IntegrityError) as refused:
        apply_event(poison, sessions=sessions)
    letter = sync.park_event(poison, refused.value, sessions=sessions)

    stats = client.get("/internal/sync/stats").json()
    assert stats["events_processed"] == stats["events_applied"] == 1
    assert (stats["events_skipped"], stats["dead_letters"], stats["backfills"]) == (0, 1, [])
    assert stats["last_lag_s"] >= 0 and stats["last_reconciliation"] is None

    listed = client.get("/internal/sync/dead-letters").json()
    assert listed["count"] == 1
    assert listed["dead_letters"][0]["event_id"] == poison["event_id"]
    assert "test_bug" in listed["dead_letters"][0]["error"]
    again = internal.post("/internal/sync/dead-letters/replay", json={"ids": [letter]}).json()
    assert again["results"][0]["result"] == "failed"

    metrics = client.get("/metrics").text
    assert 'strangler_sync_commit_to_applied_seconds_count{capability="payments"} 1.0' in metrics
    assert 'strangler_sync_dead_letters{capability="payments"} 1.0' in metrics

    # The fix, then a replay.
    with sessions.begin() as session:
        session.execute(text("ALTER TABLE payments DROP CONSTRAINT test_bug"))
    replayed = internal.post("/internal/sync/dead-letters/replay", json={"all": True}).json()
    assert [(r["result"], r["outcome"]) for r in replayed["results"]] == [("replayed", "applied")]
    assert client.get("/internal/sync/stats").json()["dead_letters"] == 0
    shown = client.get(payment_path(poison["aggregate_id"]), headers=bearer(customer))
    assert shown.status_code == 200 and shown.json()["version"] == 1


def test_the_embedded_default_sqlite_applies_by_version_too(tmp_path: Path, customer: User) -> None:
    url = f"sqlite:///{tmp_path / 'payments.sqlite3'}"
    migrate.upgrade(url)
    engine = make_engine(url)
    try:
        lite = make_sessions(engine)
        first = payment_state(customer)
        second = {**first, "version": 2, "status": "voided"}
        assert apply_event(envelope(second), sessions=lite) == "applied"
        event = envelope(first)
        assert apply_event(event, sessions=lite) == "stale"
        assert apply_event(event, sessions=lite) == "duplicate"
        row = stored(lite, first["id"])
        assert row is not None and (row.version, row.status) == (2, "voided")
    finally:
        engine.dispose()
