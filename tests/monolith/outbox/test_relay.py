"""The relay's monolith half: seq order, mark after publish, nothing marked on failure, and two
relays at once never hand over the same event (real threads, each with its own connection)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connections, transaction

from contracts.events import EventEnvelope
from monolith.inventory.seeding import seed_products
from monolith.outbox.models import OutboxEvent
from monolith.outbox.relay import relay_batch
from monolith.outbox.services import outbox_record
from tests.monolith.databases import require_postgres
from tests.monolith.factories import make_product, make_reservation

pytestmark = pytest.mark.django_db


class Failing(Exception):
    pass


def _pending() -> list[int]:
    return list(
        OutboxEvent.objects.filter(published_at__isnull=True)
        .order_by("seq")
        .values_list("seq", flat=True)
    )


def test_publishes_pending_events_in_seq_order_as_envelopes() -> None:
    product = make_product(on_hand=5)
    make_reservation([(product.sku, 2)])
    published: list[dict[str, Any]] = []

    count = relay_batch(published.append)

    rows = list(OutboxEvent.objects.order_by("seq"))
    assert count == len(rows) == 3
    assert [e["seq"] for e in published] == [row.seq for row in rows]
    for envelope, row in zip(published, rows, strict=True):
        assert EventEnvelope.model_validate(envelope).event_id == row.event_id
        assert envelope["payload"] == row.payload
        assert (envelope["aggregate_id"], envelope["version"]) == (row.aggregate_id, row.version)
        assert envelope["origin"] == "monolith"
    assert _pending() == []


def test_marks_events_only_after_they_were_published() -> None:
    make_product()
    make_product()
    seen_pending_while_publishing: list[bool] = []

    def publish(envelope: dict[str, Any]) -> None:
        row = OutboxEvent.objects.get(seq=envelope["seq"])
        seen_pending_while_publishing.append(row.published_at is None)

    relay_batch(publish)

    assert seen_pending_while_publishing == [True, True]
    assert _pending() == []
    assert OutboxEvent.objects.filter(published_at__isnull=False).count() == 2


def test_a_failing_publish_marks_nothing_and_propagates() -> None:
    for _ in range(3):
        make_product()
    before = _pending()
    calls: list[int] = []

    def publish(envelope: dict[str, Any]) -> None:
        calls.append(envelope["seq"])
        if len(calls) == 2:
            raise Failing("broker down")

    with pytest.raises(Failing):
        relay_batch(publish)

    assert calls == before[:2]
    assert _pending() == before

    republished: list[dict[str, Any]] = []
    assert relay_batch(republished.append) == 3  # at least once: the first goes out again
    assert [e["seq"] for e in republished] == before


def test_limit_bounds_a_batch_and_the_next_batch_continues() -> None:
    seed_products(count=7, seed=2)
    published: list[dict[str, Any]] = []

    counts = [relay_batch(published.append, limit=3) for _ in range(4)]

    assert counts == [3, 3, 1, 0]
    assert [e["seq"] for e in published] == sorted(e["seq"] for e in published)
    assert len({e["event_id"] for e in published}) == 7


def test_already_published_events_are_not_published_again() -> None:
    make_product()
    relay_batch(lambda envelope: None)

    again: list[dict[str, Any]] = []

    assert relay_batch(again.append) == 0
    assert again == []


def test_a_limit_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="limit"):
        relay_batch(lambda envelope: None, limit=0)


def _in_thread(target: Callable[[], None], errors: list[BaseException]) -> threading.Thread:
    def run() -> None:
        try:
            target()
        except BaseException as err:  # reported by the test thread
            errors.append(err)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


@pytest.mark.django_db(transaction=True)
def test_a_second_relay_skips_the_batch_the_first_is_publishing_on_postgres() -> None:
    """Relay A holds its batch (blocked inside publish) while relay B runs to completion: B must
    take only the events after A's batch, then A finishes its own."""
    require_postgres()
    seed_products(count=20, seed=3)
    all_seqs = _pending()
    a_published: list[int] = []
    b_published: list[int] = []
    a_started = threading.Event()
    b_done = threading.Event()
    errors: list[BaseException] = []

    def publish_a(envelope: dict[str, Any]) -> None:
        a_published.append(envelope["seq"])
        a_started.set()
        assert b_done.wait(timeout=30), "relay B never finished"

    def relay_a() -> None:
        relay_batch(publish_a, limit=10)

    def relay_b() -> None:
        assert a_started.wait(timeout=30)
        relay_batch(lambda envelope: b_published.append(envelope["seq"]), limit=10)
        b_done.set()

    threads = [_in_thread(relay_a, errors), _in_thread(relay_b, errors)]
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert a_published == all_seqs[:10]
    assert b_published == all_seqs[10:]
    assert _pending() == []


@pytest.mark.django_db(transaction=True)
def test_two_relays_draining_together_publish_every_event_exactly_once() -> None:
    seed_products(count=300, seed=4)
    expected = set(_pending())
    published: list[int] = []
    lock = threading.Lock()
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def publish(envelope: dict[str, Any]) -> None:
        with lock:
            published.append(envelope["seq"])

    def drain() -> None:
        start.wait(timeout=30)
        while relay_batch(publish, limit=7):
            pass

    threads = [_in_thread(drain, errors) for _ in range(2)]
    for thread in threads:
        thread.join(timeout=120)

    assert errors == []
    assert sorted(published) == sorted(expected)
    assert len(published) == len(set(published)), "an event was published twice"
    assert _pending() == []


def _record_payment_event() -> None:
    """An event of another capability (written directly: only its type matters here)."""
    with transaction.atomic():
        outbox_record(
            aggregate_type="payment",
            aggregate_id="6f1c0c3e-5d7e-4c47-9a57-3f0f2b8b1a01",
            event_type="payments.payment.authorized.v1",
            version=1,
            payload={},
        )


def test_events_nobody_subscribes_to_stay_pending_for_a_later_subscriber() -> None:
    make_product()
    _record_payment_event()
    published: list[dict[str, Any]] = []

    assert relay_batch(published.append, aggregate_types=("product", "reservation")) == 1

    assert [envelope["aggregate_type"] for envelope in published] == ["product"]
    (still_pending,) = OutboxEvent.objects.filter(published_at__isnull=True)
    assert still_pending.aggregate_type == "payment"
