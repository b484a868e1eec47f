"""The payments service's side of reverse sync (in process, real PostgreSQL): its direction
(frozen writes answer 503, dry runs too, a key's earlier answer is still replayed), its own
outbox recorded ``skipped`` unless it is the source and then relayed once in order with the
refunds, and events applied by sync never recorded."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from extracted.payments.models import OutboxEvent
from extracted.payments.sync import apply_event
from monolith.identity.models import User
from tests.extracted.asgi_client import BlockingASGIClient
from tests.extracted.direction_calls import DIRECTION, relay_all, set_direction
from tests.extracted.payments.api.helpers import act, create_payment, events_of, payments_of
from tests.extracted.payments.conftest import bearer
from tests.support.payments_api import PAYMENTS, idempotency_key, payment_body, payment_path
from tests.support.sync_states import payment_state

pytestmark = pytest.mark.usefixtures("sync_token")


def _collect(sessions: sessionmaker[Session]) -> list[dict[str, Any]]:
    return relay_all(sessions, OutboxEvent)


def test_while_forward_its_events_are_born_skipped(
    client: BlockingASGIClient, sessions: sessionmaker[Session], customer: User
) -> None:
    assert client.get(DIRECTION).json()["capability"] == "payments"
    payment = create_payment(client, customer, capture=True)
    [event] = events_of(sessions, payment["id"])
    assert (event.skipped, event.published_at is not None) == (True, True)
    assert _collect(sessions) == []
    assert client.get("/internal/sync/outbox").json()["pending"] == 0


def test_once_the_source_its_events_are_relayed_once_in_order_with_the_refunds(
    client: BlockingASGIClient, sessions: sessionmaker[Session], customer: User
) -> None:
    set_direction(client, "reverse")
    payment = create_payment(client, customer, capture=True)
    for amount in ("5.00", "15.00"):
        refund = act(client, customer, payment["id"], "refunds", json={"amount": amount})
        assert refund.status_code == 201
    tail = client.get("/internal/sync/outbox").json()
    assert (tail["pending"], tail["in_flight"]) == (3, 0)
    sent = _collect(sessions)
    assert [(e["aggregate_id"], e["version"], e["origin"]) for e in sent] == [
        (payment["id"], v, "payments") for v in (1, 2, 3)
    ]
    last = sent[-1]["payload"]
    assert (last["status"], [r["amount"] for r in last["refunds"]]) == (
        "refunded",
        ["5.00", "15.00"],
    )
    assert _collect(sessions) == []
    recent = client.get("/internal/sync/outbox?limit=3").json()["recent_event_ids"]
    assert recent == [e["event_id"] for e in reversed(sent)]


def test_frozen_writes_answer_503_dry_runs_too_and_reads_still_work(
    client: BlockingASGIClient, sessions: sessionmaker[Session], customer: User
) -> None:
    payment = create_payment(client, customer)
    key = {**bearer(customer), **idempotency_key()}
    first = client.post(PAYMENTS, json=payment_body(), headers=key)
    assert first.status_code == 201
    set_direction(client, "frozen")
    count = payments_of(sessions, customer)
    refused = [
        client.post(PAYMENTS, json=payment_body(), headers=bearer(customer)),
        client.post(
            PAYMENTS, json=payment_body(), headers={**bearer(customer), **idempotency_key()}
        ),
        client.post(
            PAYMENTS,
            json=payment_body(),
            headers={**bearer(customer), "X-Strangler-Dry-Run": "1"},
        ),
        act(client, customer, payment["id"], "capture"),
        client.post(
            payment_path(payment["id"], "void"),
            headers={**bearer(customer), "X-Strangler-Dry-Run": "1"},
        ),
    ]
    assert [(r.status_code, r.headers.get("retry-after")) for r in refused] == [(503, "1")] * 5
    assert {r.json()["error"] for r in refused} == {"unavailable"}
    assert payments_of(sessions, customer) == count
    assert len(events_of(sessions, payment["id"])) == 1
    detail = client.get(payment_path(payment["id"]), headers=bearer(customer))
    assert (detail.status_code, detail.json()["status"]) == (200, "authorized")
    # A request that ran before the freeze is still answered from its key, as in the monolith.
    replayed = client.post(PAYMENTS, json=payment_body(), headers=key)
    assert (replayed.status_code, replayed.content) == (201, first.content)
    # A validation error is still the first answer: the body is checked before the direction.
    invalid = client.post(PAYMENTS, json=payment_body(amount="-1"), headers=bearer(customer))
    assert invalid.status_code == 400
    set_direction(client, "forward")
    assert act(client, customer, payment["id"], "capture").status_code == 200


def test_applied_sync_events_are_never_relayed(
    internal: BlockingASGIClient, sessions: sessionmaker[Session]
) -> None:
    set_direction(internal, "reverse")
    _collect(sessions)
    state = payment_state()
    event = {
        "event_id": "3f0e2c1a-9a55-4d8e-b2a7-1f7c0d9e6a41",
        "seq": 1,
        "aggregate_type": "payment",
        "aggregate_id": state["id"],
        "event_type": "payments.payment.captured.v1",
        "version": 1,
        "occurred_at": state["updated_at"],
        "payload": state,
    }
    assert apply_event(event, sessions=sessions) == "applied"
    assert events_of(sessions, state["id"]) == []
    assert _collect(sessions) == []
    answer = internal.post("/internal/sync/processed", json={"event_ids": [event["event_id"]]})
    assert answer.json() == {"missing": []}
