"""Reverse sync on the monolith's side: the inbox applies a service's events (dedup,
compare-and-set, **no outbox event**: nothing loops), poison events are parked and replayable,
and the direction freezes the capability's writes (503 + Retry-After, the contract's body)."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import pytest

from contracts.sync_token import bearer
from monolith.inventory.models import Product, Reservation
from monolith.outbox.models import OutboxEvent
from monolith.reverse_sync import dead_letters
from monolith.reverse_sync.direction import direction_set
from monolith.reverse_sync.errors import SyncInputError
from monolith.reverse_sync.inbox import apply_event, apply_events
from monolith.reverse_sync.models import DeadLetter, InboxEvent
from tests.extracted.inventory.factories import envelope, product_state, reservation_state
from tests.monolith.api_client import JsonClient
from tests.monolith.factories import make_product
from tests.support.inventory_api import PRODUCTS, adjustment_body, adjustments_path, product_body
from tests.support.random_refs import random_suffix

pytestmark = pytest.mark.django_db


def _from_service(payload: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    return {**envelope(payload, **kwargs), "origin": "inventory"}


def test_a_service_event_is_applied_once_and_records_no_outbox_event() -> None:
    before = OutboxEvent.objects.count()
    state = product_state(version=3, on_hand=7)
    event = _from_service(state)
    assert apply_event(event) == "applied"
    product = Product.objects.get(sku=state["sku"])
    assert (product.on_hand, product.version, str(product.price)) == (7, 3, "9.99")
    assert apply_event(event) == "duplicate"
    assert OutboxEvent.objects.count() == before  # nothing to relay forward: no loop
    assert InboxEvent.objects.get(event_id=event["event_id"]).outcome == "applied"


def test_an_older_version_never_overwrites_a_newer_one() -> None:
    sku = product_state()["sku"]
    assert apply_event(_from_service(product_state(sku=sku, version=5, on_hand=50))) == "applied"
    assert apply_event(_from_service(product_state(sku=sku, version=4, on_hand=40))) == "stale"
    assert Product.objects.get(sku=sku).on_hand == 50
    assert apply_event(_from_service(product_state(sku=sku, version=6, on_hand=60))) == "applied"
    assert Product.objects.get(sku=sku).on_hand == 60


def test_a_reservation_event_writes_the_reservation_and_its_lines() -> None:
    product = make_product(on_hand=10)
    state = reservation_state(lines=[(product.sku, 2)])
    before = OutboxEvent.objects.count()
    assert apply_event(_from_service(state, aggregate_type="reservation")) == "applied"
    reservation = Reservation.objects.get(id=state["id"])
    assert [(line.product_id, line.quantity) for line in reservation.lines.all()] == [
        (product.sku, 2)
    ]
    committed = reservation_state(
        lines=[(product.sku, 2)], reservation_id=state["id"], version=2, status="committed"
    )
    assert apply_event(_from_service(committed, aggregate_type="reservation")) == "applied"
    assert Reservation.objects.get(id=state["id"]).status == "committed"
    assert OutboxEvent.objects.count() == before


def test_a_batch_applies_each_event_once_and_the_newest_version_wins() -> None:
    before = OutboxEvent.objects.count()
    sku = product_state()["sku"]
    v2 = _from_service(product_state(sku=sku, version=2, on_hand=20))
    v3 = _from_service(product_state(sku=sku, version=3, on_hand=30))
    v1 = _from_service(product_state(sku=sku, version=1, on_hand=10))
    other = _from_service(product_state(version=1, on_hand=5))
    # Out of version order, with a repeat of one event inside the batch.
    outcomes = apply_events([v3, v1, v2, other, v3])
    assert Product.objects.get(sku=sku).on_hand == 30
    assert Product.objects.get(sku=other["aggregate_id"]).on_hand == 5
    # Applied in aggregate order (version 1, 2, 3), the outcomes come back in the order given.
    assert outcomes == ["applied", "applied", "applied", "applied", "duplicate"]
    assert InboxEvent.objects.filter(aggregate_id=sku).count() == 3
    # A redelivery of the whole batch changes nothing; an older version alone is stale.
    assert apply_events([v3, v1, v2, other]) == ["duplicate"] * 4
    older = _from_service(product_state(sku=sku, version=2, on_hand=99))
    assert apply_events([older]) == ["stale"]
    assert Product.objects.get(sku=sku).on_hand == 30
    assert OutboxEvent.objects.count() == before  # nothing applied travels forward: no loop


def test_a_batch_with_a_poison_event_applies_nothing() -> None:
    good = _from_service(product_state(on_hand=7))
    # The monolith's own event, a reservation: it sorts after the product, which is applied
    # first and then rolled back with the batch.
    own = envelope(
        reservation_state(lines=[(good["aggregate_id"], 1)]), aggregate_type="reservation"
    )
    with pytest.raises(SyncInputError, match="loop"):
        apply_events([own, good])
    assert not Product.objects.filter(sku=good["aggregate_id"]).exists()
    assert not InboxEvent.objects.filter(event_id=good["event_id"]).exists()
    assert apply_events([good]) == ["applied"]


def test_events_of_the_monoliths_own_origin_or_garbled_are_refused() -> None:
    with pytest.raises(SyncInputError, match="loop"):
        apply_event(envelope(product_state()))  # origin "monolith"
    with pytest.raises(SyncInputError, match="invalid envelope"):
        apply_event({"event_id": "nope"})
    bad = _from_service(product_state(version=2))
    bad["version"] = 3
    with pytest.raises(SyncInputError, match="differs"):
        apply_event(bad)


def test_dead_letters_are_listed_and_replayed(api: JsonClient, internal_api: JsonClient) -> None:
    garbled = {"event_id": str(uuid.uuid4()), "payload": "?"}
    good = _from_service(product_state())
    first = dead_letters.park(garbled, ValueError("does not fit"))
    again = dead_letters.park(garbled, ValueError("still not"))
    assert first == again  # a redelivery updates its row
    second = dead_letters.park(good, RuntimeError("was broken, fixed since"))
    listed = api.get("/internal/sync/dead-letters?limit=10")
    assert listed.status == 200
    assert listed.body["count"] == 2
    assert [(d["id"], d["attempts"]) for d in listed.body["dead_letters"]] == [
        (first, 2),
        (second, 1),
    ]
    replay = "/internal/sync/dead-letters/replay"
    assert internal_api.post(replay, {"ids": [999999]}).status == 404
    assert internal_api.post(replay, {}).status == 400
    replayed = internal_api.post(replay, {"all": True})
    assert replayed.status == 200
    results = {r["id"]: r for r in replayed.body["results"]}
    assert (results[second]["result"], results[second]["outcome"]) == ("replayed", "applied")
    assert results[first]["result"] == "failed"
    assert list(DeadLetter.objects.values_list("pk", "attempts")) == [(first, 3)]
    assert Product.objects.filter(sku=good["aggregate_id"]).exists()


def test_frozen_or_reverse_writes_answer_503_with_retry_after(
    stock_api: JsonClient, caplog: pytest.LogCaptureFixture
) -> None:
    product = make_product(on_hand=10)
    for direction in ("frozen", "reverse"):
        direction_set(capability="inventory", direction=direction)
        before = OutboxEvent.objects.count()
        caplog.clear()
        with caplog.at_level(logging.INFO):
            refused = stock_api.post(adjustments_path(product.sku), adjustment_body(delta=1))
        assert refused.status == 503
        # A refusal by design: one warning, not the ERROR Django logs for a 5xx.
        assert [(r.name, r.levelname) for r in caplog.records if r.levelno >= logging.WARNING] == [
            ("monolith.api.exception_handlers", "WARNING")
        ]
        assert "answered 503 unavailable, retry after 1 s" in caplog.records[-1].getMessage()
        assert refused.headers["Retry-After"] == "1"
        assert refused.body["error"] == "unavailable"
        assert "inventory" in refused.body["detail"]
        assert stock_api.post(PRODUCTS, product_body()).status == 503
        assert OutboxEvent.objects.count() == before
        assert Product.objects.get(sku=product.sku).on_hand == 10
        assert stock_api.get(f"{PRODUCTS}{product.sku}/").status == 200  # reads still served
    direction_set(capability="inventory", direction="forward")
    assert stock_api.post(adjustments_path(product.sku), adjustment_body(delta=1)).status == 200


def test_the_direction_endpoint_needs_the_sync_token(
    api: JsonClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    path = "/internal/sync/direction/inventory"
    monkeypatch.setenv("STRANGLER_VAR_DIR", str(tmp_path))
    monkeypatch.delenv("STRANGLER_SYNC_TOKEN", raising=False)
    assert api.send("PUT", path, {"direction": "frozen"}).status == 403  # no token configured
    token = f"sync-{random_suffix()}"
    monkeypatch.setenv("STRANGLER_SYNC_TOKEN", token)
    assert api.send("PUT", path, {"direction": "frozen"}).status == 401
    wrong = {"Authorization": "Bearer not-it"}
    assert api.send("PUT", path, {"direction": "frozen"}, headers=wrong).status == 401
    right = bearer(token)
    assert api.send("PUT", path, {"direction": "sideways"}, headers=right).status == 400
    assert api.send("PUT", "/internal/sync/direction/shoes", {}, headers=right).status == 404
    assert api.get(path).body["direction"] == "forward"
    moved = api.send("PUT", path, {"direction": "frozen"}, headers=right)
    assert (moved.status, moved.body["direction"]) == (200, "frozen")
    assert api.get(path).body["direction"] == "frozen"


def test_processed_answers_which_event_ids_the_inbox_lacks(internal_api: JsonClient) -> None:
    event = _from_service(product_state())
    apply_event(event)
    other = str(uuid.uuid4())
    path = "/internal/sync/processed"
    answer = internal_api.post(path, {"event_ids": [event["event_id"], other]})
    assert (answer.status, answer.body) == (200, {"missing": [other]})
    assert internal_api.post(path, {"event_ids": ["x"]}).status == 400
