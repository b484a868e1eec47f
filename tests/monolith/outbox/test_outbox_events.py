"""Every write records, in its own transaction, one event per row it wrote: the row's new version
and full state. Refused or rolled-back writes record nothing."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from contracts import events
from contracts.events import EventEnvelope, ProductState, ReservationState
from monolith.inventory.models import Product, Reservation
from monolith.inventory.selectors import reservation_get
from monolith.inventory.services import product_create
from monolith.inventory.states import product_state, reservation_state
from monolith.outbox.models import OutboxEvent
from monolith.outbox.relay import envelope_of
from monolith.outbox.services import OutboxOutsideTransaction, outbox_record
from tests.monolith.api_client import JsonClient
from tests.monolith.factories import make_product
from tests.support.inventory_api import (
    PRODUCTS,
    RESERVATIONS,
    adjustment_body,
    adjustments_path,
    product_body,
    reservation_body,
    reservation_path,
)
from tests.support.random_refs import random_sku, random_suffix

pytestmark = pytest.mark.django_db


def _events_after(seq: int) -> list[OutboxEvent]:
    return list(OutboxEvent.objects.filter(seq__gt=seq).order_by("seq"))


def _last_seq() -> int:
    last = OutboxEvent.objects.order_by("-seq").first()
    return last.seq if last else 0


def _pairs(rows: list[OutboxEvent]) -> list[tuple[str, str, str, int]]:
    return [(e.aggregate_type, e.aggregate_id, e.event_type, e.version) for e in rows]


def _current_state(event: OutboxEvent) -> dict[str, Any]:
    if event.aggregate_type == "product":
        return product_state(Product.objects.get(sku=event.aggregate_id))
    return reservation_state(reservation_get(reservation_id=uuid.UUID(event.aggregate_id)))


def test_every_write_endpoint_records_one_event_per_row_with_its_new_version(
    stock_api: JsonClient,
) -> None:
    """Walk every write endpoint; after each, the new events are exactly (row, version) of the
    rows it wrote, and each payload is that row's full state as it is now."""
    suffix = random_suffix()
    sku_a, sku_b = f"A-{suffix}", f"B-{suffix}"

    def step(
        path: str, body: dict[str, Any] | None, expected: list[tuple[str, str, str, int]]
    ) -> dict[str, Any]:
        before = _last_seq()
        resp = stock_api.post(path, body)
        assert resp.status in (200, 201), resp.body
        new = _events_after(before)
        assert _pairs(new) == expected, path
        for event in new:
            assert event.payload == _current_state(event)
            assert event.origin == "monolith"
            assert event.published_at is None
        return resp.body

    step(
        PRODUCTS,
        product_body(sku=sku_a, on_hand=10),
        [("product", sku_a, events.PRODUCT_CREATED, 1)],
    )
    step(
        PRODUCTS,
        product_body(sku=sku_b, on_hand=4),
        [("product", sku_b, events.PRODUCT_CREATED, 1)],
    )
    step(
        adjustments_path(sku_a),
        adjustment_body(delta=5),
        [("product", sku_a, events.PRODUCT_STOCK_ADJUSTED, 2)],
    )
    # A reservation's id is only known from the answer, so this step is checked by hand.
    before = _last_seq()
    first = stock_api.post(
        RESERVATIONS,
        reservation_body([{"sku": sku_b, "quantity": 1}, {"sku": sku_a, "quantity": 2}]),
    )
    rid = first.body["id"]
    assert _pairs(_events_after(before)) == [
        ("product", sku_a, events.PRODUCT_RESERVED_CHANGED, 3),
        ("product", sku_b, events.PRODUCT_RESERVED_CHANGED, 2),
        ("reservation", rid, events.RESERVATION_CREATED, 1),
    ]
    assert all(e.payload == _current_state(e) for e in _events_after(before))
    step(
        reservation_path(rid, "commit"),
        None,
        [
            ("product", sku_a, events.PRODUCT_STOCK_COMMITTED, 4),
            ("product", sku_b, events.PRODUCT_STOCK_COMMITTED, 3),
            ("reservation", rid, events.RESERVATION_COMMITTED, 2),
        ],
    )
    second = stock_api.post(RESERVATIONS, reservation_body([{"sku": sku_a, "quantity": 1}])).body
    step(
        reservation_path(second["id"], "release"),
        None,
        [
            ("product", sku_a, events.PRODUCT_RESERVED_CHANGED, 6),
            ("reservation", second["id"], events.RESERVATION_RELEASED, 2),
        ],
    )

    # Every row's events carry versions 1, 2, 3, ... with no gap, and the last is the row's own.
    for sku in (sku_a, sku_b):
        versions = list(
            OutboxEvent.objects.filter(aggregate_id=sku)
            .order_by("seq")
            .values_list("version", flat=True)
        )
        assert versions == list(range(1, Product.objects.get(sku=sku).version + 1))
    for reservation in Reservation.objects.all():
        versions = list(
            OutboxEvent.objects.filter(aggregate_id=str(reservation.id))
            .order_by("seq")
            .values_list("version", flat=True)
        )
        assert versions == list(range(1, reservation.version + 1))


def test_payloads_are_the_contract_states_and_envelopes_validate(stock_api: JsonClient) -> None:
    product = make_product(price="3.10", on_hand=2)
    resp = stock_api.post(RESERVATIONS, reservation_body([{"sku": product.sku, "quantity": 2}]))
    assert resp.status == 201

    rows = list(OutboxEvent.objects.order_by("seq"))
    product_events = [e for e in rows if e.aggregate_type == "product"]
    reservation_events = [e for e in rows if e.aggregate_type == "reservation"]

    created = ProductState.model_validate(product_events[0].payload)
    assert (created.sku, created.price, created.on_hand, created.reserved) == (
        product.sku,
        "3.10",
        2,
        0,
    )
    state = ReservationState.model_validate(reservation_events[0].payload)
    assert str(state.id) == resp.body["id"]
    assert [(line.sku, line.quantity) for line in state.lines] == [(product.sku, 2)]
    for row in rows:
        envelope = envelope_of(row)
        assert isinstance(envelope, EventEnvelope)
        assert envelope.model_dump(mode="json")["event_id"] == str(row.event_id)
        assert envelope.seq == row.seq


def test_refused_writes_record_nothing(stock_api: JsonClient) -> None:
    product = make_product(on_hand=1)
    before = _last_seq()

    refusals = [
        stock_api.post(PRODUCTS, product_body(sku=product.sku)),
        stock_api.post(PRODUCTS, product_body(price="-1")),
        stock_api.post(adjustments_path(product.sku), adjustment_body(delta=-2)),
        stock_api.post(RESERVATIONS, reservation_body([{"sku": product.sku, "quantity": 2}])),
        stock_api.post(RESERVATIONS, reservation_body([{"sku": "SKU-none", "quantity": 1}])),
        stock_api.post(reservation_path(uuid.uuid4(), "commit")),
    ]

    assert [r.status for r in refusals] == [409, 400, 409, 409, 404, 404]
    assert _events_after(before) == []
    assert Product.objects.get(sku=product.sku).version == 1


def test_a_write_whose_transaction_rolls_back_leaves_no_event() -> None:
    sku = random_sku()

    with pytest.raises(RuntimeError, match="after the write"), transaction.atomic():
        product_create(sku=sku, name="Doomed", price=Decimal("1.00"), on_hand=1)
        assert OutboxEvent.objects.filter(aggregate_id=sku).count() == 1
        raise RuntimeError("something failed after the write")

    assert not Product.objects.filter(sku=sku).exists()
    assert not OutboxEvent.objects.filter(aggregate_id=sku).exists()


@pytest.mark.django_db(transaction=True)
def test_outbox_record_refuses_to_run_outside_a_transaction() -> None:
    with pytest.raises(OutboxOutsideTransaction):
        outbox_record(
            aggregate_type="product",
            aggregate_id="SKU-x",
            event_type=events.PRODUCT_CREATED,
            version=1,
            payload={},
        )

    assert OutboxEvent.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_service_writes_commit_row_and_event_together() -> None:
    """Outside any test transaction: the service's own atomic block commits both."""
    product = make_product(on_hand=3)

    event = OutboxEvent.objects.get(aggregate_id=product.sku)
    assert (event.event_type, event.version) == (events.PRODUCT_CREATED, 1)
    assert event.occurred_at == Product.objects.get(sku=product.sku).updated_at


def test_outbox_stats_count_pending_and_published(stock_api: JsonClient) -> None:
    make_product()
    make_product()
    OutboxEvent.objects.filter(seq=OutboxEvent.objects.order_by("seq").first().seq).update(  # type: ignore[union-attr]
        published_at="2026-01-01T00:00:00Z"
    )

    resp = stock_api.get("/internal/outbox/stats")

    assert resp.status == 200
    assert list(resp.body) == ["pending", "total", "oldest_pending_age_s", "by_aggregate_type"]
    assert (resp.body["pending"], resp.body["total"]) == (1, 2)
    assert resp.body["by_aggregate_type"] == {
        "product": 2,
        "reservation": 0,
        "payment": 0,
        "order": 0,
    }
    assert isinstance(resp.body["oldest_pending_age_s"], float)
    assert resp.body["oldest_pending_age_s"] >= 0


def test_outbox_stats_with_nothing_pending_has_no_age(stock_api: JsonClient) -> None:
    resp = stock_api.get("/internal/outbox/stats")

    assert resp.body == {
        "pending": 0,
        "total": 0,
        "oldest_pending_age_s": None,
        "by_aggregate_type": {"product": 0, "reservation": 0, "payment": 0, "order": 0},
    }


def test_outbox_stats_of_one_capability_count_only_its_events(stock_api: JsonClient) -> None:
    product = make_product(on_hand=2)
    with transaction.atomic():
        outbox_record(
            aggregate_type="order",
            aggregate_id="2b3f5e0a-8a43-4d3f-9a4e-0c2f1d7b9e11",
            event_type=events.ORDER_PLACED,
            version=1,
            payload={},
        )

    inventory = stock_api.get("/internal/outbox/stats?capability=inventory").body
    orders = stock_api.get("/internal/outbox/stats?capability=orders").body

    assert (inventory["pending"], inventory["by_aggregate_type"]) == (
        1,
        {"product": 1, "reservation": 0},
    )
    assert (orders["pending"], orders["by_aggregate_type"]) == (1, {"order": 1})
    assert product.version == 1


def test_outbox_stats_refuse_an_unknown_capability(stock_api: JsonClient) -> None:
    resp = stock_api.get("/internal/outbox/stats?capability=billing")
    assert resp.status == 400
    assert list(resp.body["fields"]) == ["capability"]


def test_an_adjustment_is_one_update_and_answers_and_records_the_row_it_wrote(
    stock_api: JsonClient,
) -> None:
    """The adjustment writes the product with one ``UPDATE ... RETURNING`` (no locking read
    first, the hot path of bench.relay_lag), and what it answers and records is the row as
    stored: the same as the ORM would have read back."""
    product = make_product(on_hand=10, price="7.5")
    before = _last_seq()

    with CaptureQueriesContext(connection) as queries:
        resp = stock_api.post(adjustments_path(product.sku), adjustment_body(delta=-3))

    assert resp.status == 200, resp.body
    statements = [q["sql"] for q in queries.captured_queries]
    assert not [s for s in statements if s.startswith("SELECT") and "inventory_product" in s]
    assert len([s for s in statements if s.startswith("UPDATE") and "inventory_product" in s]) == 1
    stored = Product.objects.get(sku=product.sku)
    assert (stored.on_hand, stored.version) == (7, 2)
    assert resp.body == stock_api.get(f"{PRODUCTS}{product.sku}/").body
    (event,) = _events_after(before)
    assert _pairs([event]) == [("product", product.sku, events.PRODUCT_STOCK_ADJUSTED, 2)]
    assert event.payload == product_state(stored)
    assert event.occurred_at == stored.updated_at
