"""The inventory service's side of reverse sync: its direction (frozen writes answer 503), its
own outbox recorded ``skipped`` unless it is the source, and the chassis relay over that outbox
(batches, SKIP LOCKED, marked published only after the publisher took them); once retired (the
cord is cut) it keeps taking and recording writes but sends none, and never leaves retired."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from extracted.chassis.sync.outbox_relay import relay_batch
from extracted.inventory.models import OutboxEvent
from extracted.inventory.sync import apply_event
from sync.control.internal_auth import sync_headers
from tests.extracted.asgi_client import BlockingASGIClient
from tests.extracted.direction_calls import DIRECTION, relay_all, set_direction
from tests.extracted.inventory.factories import envelope, product_state
from tests.support.inventory_api import PRODUCTS, adjustment_body, adjustments_path, product_body

pytestmark = pytest.mark.usefixtures("sync_token")


def _set(client: BlockingASGIClient, direction: str) -> None:
    set_direction(client, direction)


def _events(sessions: sessionmaker[Session], sku: str) -> list[OutboxEvent]:
    with sessions() as session:
        return list(
            session.scalars(
                select(OutboxEvent).where(OutboxEvent.aggregate_id == sku).order_by(OutboxEvent.seq)
            )
        )


def _collect(sessions: sessionmaker[Session]) -> list[dict[str, Any]]:
    return relay_all(sessions, OutboxEvent)


def test_while_forward_the_services_events_are_born_skipped(
    client: BlockingASGIClient, sessions: sessionmaker[Session]
) -> None:
    _collect(sessions)  # whatever earlier tests left pending
    sku = client.post(PRODUCTS, json=product_body()).json()["sku"]
    [event] = _events(sessions, sku)
    assert (event.skipped, event.published_at is not None) == (True, True)
    assert _collect(sessions) == []
    tail = client.get("/internal/sync/outbox?limit=1000").json()
    assert str(event.event_id) not in tail["recent_event_ids"]


def test_once_the_source_its_events_are_relayed_once_in_order(
    client: BlockingASGIClient, sessions: sessionmaker[Session]
) -> None:
    _set(client, "reverse")
    _collect(sessions)
    sku = client.post(PRODUCTS, json=product_body(on_hand=5)).json()["sku"]
    for _ in range(3):
        assert client.post(adjustments_path(sku), json=adjustment_body(delta=1)).status_code == 200
    assert client.get("/internal/sync/outbox").json()["pending"] == 4

    def refuse(envelope: dict[str, Any]) -> None:
        raise ConnectionError("broker away")

    with pytest.raises(ConnectionError):
        relay_batch(sessions, OutboxEvent, refuse)
    assert client.get("/internal/sync/outbox").json()["pending"] == 4  # nothing marked

    sent = _collect(sessions)
    assert [(e["aggregate_id"], e["version"], e["origin"]) for e in sent] == [
        (sku, v, "inventory") for v in (1, 2, 3, 4)
    ]
    assert sent[-1]["payload"]["on_hand"] == 8
    assert _collect(sessions) == []
    tail = client.get("/internal/sync/outbox?limit=4").json()
    assert tail["pending"] == 0
    assert tail["recent_event_ids"] == [e["event_id"] for e in reversed(sent)]


def test_two_relays_never_hand_over_the_same_event(
    client: BlockingASGIClient, sessions: sessionmaker[Session]
) -> None:
    _set(client, "reverse")
    _collect(sessions)
    for _ in range(3):
        client.post(PRODUCTS, json=product_body())
    inner: list[dict[str, Any]] = []
    outer: list[dict[str, Any]] = []

    def publish_and_race(envelope: dict[str, Any]) -> None:
        if not outer:  # while this relay holds its rows, a second one finds none of them
            relay_batch(sessions, OutboxEvent, inner.append)
        outer.append(envelope)

    assert relay_batch(sessions, OutboxEvent, publish_and_race) == 3
    assert inner == []
    assert len({e["event_id"] for e in outer}) == 3


def test_frozen_writes_answer_503_and_reads_still_work(client: BlockingASGIClient) -> None:
    sku = client.post(PRODUCTS, json=product_body(on_hand=5)).json()["sku"]
    _set(client, "frozen")
    refused = client.post(adjustments_path(sku), json=adjustment_body(delta=1))
    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "1"
    assert refused.json()["error"] == "unavailable"
    assert client.post(PRODUCTS, json=product_body()).status_code == 503
    assert client.get(f"{PRODUCTS}{sku}/").json()["on_hand"] == 5
    _set(client, "forward")
    assert client.post(adjustments_path(sku), json=adjustment_body(delta=1)).status_code == 200


def test_applied_sync_events_are_never_relayed(
    client: BlockingASGIClient, sessions: sessionmaker[Session]
) -> None:
    _set(client, "reverse")
    _collect(sessions)
    state = product_state()
    assert apply_event(envelope(state), sessions=sessions) == "applied"
    assert _events(sessions, state["sku"]) == []
    assert _collect(sessions) == []


def test_direction_changes_need_the_token_and_a_known_direction(
    client: BlockingASGIClient, monkeypatch: pytest.MonkeyPatch, sync_auth: dict[str, str]
) -> None:
    assert client.get(DIRECTION).json()["direction"] == "forward"
    assert client.request("PUT", DIRECTION, json={"direction": "reverse"}).status_code == 401
    wrong = {"Authorization": "Bearer nope"}
    assert (
        client.request("PUT", DIRECTION, json={"direction": "reverse"}, headers=wrong).status_code
        == 401
    )
    right = sync_auth
    bad = client.request("PUT", DIRECTION, json={"direction": "up"}, headers=right)
    assert (bad.status_code, bad.json()["error"]) == (400, "invalid")
    monkeypatch.delenv("STRANGLER_SYNC_TOKEN")
    monkeypatch.setenv("STRANGLER_VAR_DIR", "/nonexistent-var")
    assert (
        client.request("PUT", DIRECTION, json={"direction": "reverse"}, headers=right).status_code
        == 403
    )
    assert client.get(DIRECTION).json()["direction"] == "forward"


def test_processed_lists_the_ids_not_applied_here(
    internal: BlockingASGIClient, sessions: sessionmaker[Session]
) -> None:
    event = envelope(product_state())
    apply_event(event, sessions=sessions)
    other = "7d0f8a44-5b3c-4b0e-9a51-8a3c2f0e9d11"
    answer = internal.post(
        "/internal/sync/processed", json={"event_ids": [event["event_id"], other]}
    )
    assert answer.json() == {"missing": [other]}
    assert internal.post("/internal/sync/processed", json={"event_ids": 3}).status_code == 400


def test_retired_is_reached_only_from_reverse_and_never_left(client: BlockingASGIClient) -> None:
    for before in ("forward", "frozen"):
        _set(client, before)
        refused = client.request(
            "PUT", DIRECTION, json={"direction": "retired"}, headers=sync_headers()
        )
        assert refused.status_code == 409
        assert refused.json() == {
            "error": "conflict",
            "detail": "Cannot move inventory to retired: only a reverse capability can be "
            f"retired, this one is {before}.",
        }
        assert client.get(DIRECTION).json()["direction"] == before
    _set(client, "reverse")
    _set(client, "retired")
    _set(client, "retired")  # idempotent
    for target in ("forward", "frozen", "reverse"):
        refused = client.request(
            "PUT", DIRECTION, json={"direction": target}, headers=sync_headers()
        )
        assert (refused.status_code, refused.json()["error"]) == (409, "conflict")
        assert "it never moves to" in refused.json()["detail"]
    assert client.get(DIRECTION).json()["direction"] == "retired"


def test_once_retired_it_takes_writes_and_records_them_but_sends_none(
    client: BlockingASGIClient, sessions: sessionmaker[Session]
) -> None:
    _set(client, "reverse")
    _collect(sessions)
    sku = client.post(PRODUCTS, json=product_body(on_hand=5)).json()["sku"]
    _set(client, "retired")  # the event written before the cut is still sent
    assert client.post(adjustments_path(sku), json=adjustment_body(delta=1)).status_code == 200
    assert client.get(f"{PRODUCTS}{sku}/").json()["on_hand"] == 6

    assert [(e["aggregate_id"], e["version"]) for e in _collect(sessions)] == [(sku, 1)]
    events = _events(sessions, sku)
    assert [(e.version, e.skipped) for e in events] == [(1, False), (2, True)]
    assert client.get("/internal/sync/outbox").json()["pending"] == 0
