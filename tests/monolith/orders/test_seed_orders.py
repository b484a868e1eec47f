"""``manage.py seed_orders``: customers and fulfilled orders with their captured payments,
committed reservations and one outbox event per row, consistent with each other and with the
state functions the services use; re-runs skip what exists."""

from __future__ import annotations

import uuid
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from contracts import events
from contracts.events import OrderState, PaymentState, ReservationState
from monolith.identity.models import User
from monolith.inventory.models import Product, Reservation
from monolith.inventory.states import reservation_state
from monolith.orders.models import Order
from monolith.orders.seeding import _seed_uuid, seed_customer_id
from monolith.orders.states import order_state
from monolith.outbox.models import OutboxEvent
from monolith.payments.models import Payment
from monolith.payments.states import payment_state
from tests.monolith.databases import require_postgres
from tests.monolith.orders.factories import ORDERS

pytestmark = pytest.mark.django_db


def _seed(**options: object) -> str:
    out = StringIO()
    call_command("seed_orders", stdout=out, **options)
    return out.getvalue()


def _stock() -> list[tuple[str, int, int, int]]:
    return list(
        Product.objects.order_by("sku").values_list("sku", "on_hand", "reserved", "version")
    )


@pytest.fixture
def catalogue() -> list[tuple[str, int, int, int]]:
    call_command("seed_inventory", products=30, stdout=StringIO())
    return _stock()


def _only_event(aggregate_id: uuid.UUID) -> OutboxEvent:
    found = list(OutboxEvent.objects.filter(aggregate_id=str(aggregate_id)))
    assert len(found) == 1, found
    return found[0]


def test_seeded_orders_payments_reservations_and_events_agree(
    catalogue: list[tuple[str, int, int, int]],
) -> None:
    output = _seed(orders=40, customers=5, seed=3)

    assert output.startswith("customers: 5 created, 0 existed; orders: 40 created, 0 existed (")
    customers = list(User.objects.filter(id__in=[seed_customer_id(n) for n in range(1, 6)]))
    assert len(customers) == 5
    assert not any(c.has_usable_password() or c.is_staff or c.email for c in customers)

    orders = list(Order.objects.prefetch_related("lines"))
    assert len(orders) == 40
    assert {o.customer_id for o in orders} <= {c.id for c in customers}
    prices = {sku: price for sku, price in Product.objects.values_list("sku", "price")}
    for order in orders:
        lines = list(order.lines.all())
        assert (order.status, order.cancel_reason, order.version) == ("fulfilled", None, 2)
        assert order.updated_at > order.created_at
        assert all(line.unit_price == prices[line.sku] for line in lines)
        assert all(line.line_total == line.unit_price * line.quantity for line in lines)
        assert order.total == sum(line.line_total for line in lines)

        assert order.payment_id is not None and order.reservation_id is not None
        payment = Payment.objects.prefetch_related("refunds").get(id=order.payment_id)
        assert (payment.status, payment.amount, payment.captured_amount) == (
            "captured",
            order.total,
            order.total,
        )
        assert (payment.order_id, payment.customer_id, payment.version) == (
            order.id,
            order.customer_id,
            1,
        )
        assert payment.refunded_amount == 0 and payment.gateway_reference

        reservation = Reservation.objects.prefetch_related("lines").get(id=order.reservation_id)
        assert (reservation.order_id, reservation.status, reservation.version) == (
            order.id,
            "committed",
            2,
        )
        assert [(r.product_id, r.quantity) for r in reservation.lines.all()] == [
            (line.sku, line.quantity) for line in lines
        ]

        # One event per row, at its version, carrying exactly what the state functions say.
        for event, state, event_type, model in (
            (_only_event(order.id), order_state(order), events.ORDER_FULFILLED, OrderState),
            (
                _only_event(payment.id),
                payment_state(payment),
                events.PAYMENT_CAPTURED,
                PaymentState,
            ),
            (
                _only_event(reservation.id),
                reservation_state(reservation),
                events.RESERVATION_COMMITTED,
                ReservationState,
            ),
        ):
            assert (event.event_type, event.version, event.origin) == (
                event_type,
                state["version"],
                "monolith",
            )
            assert event.payload == state
            model.model_validate(event.payload)
            assert event.published_at is None
    # Past orders were shipped long ago: today's stock figures are untouched.
    assert _stock() == catalogue


def test_seeded_orders_are_what_the_api_shows_their_customer(
    catalogue: list[tuple[str, int, int, int]], api_as: object
) -> None:
    _seed(orders=12, customers=2, seed=4)
    customer = User.objects.get(id=seed_customer_id(1))
    assert callable(api_as)

    resp = api_as(customer).get(ORDERS)

    assert resp.status == 200
    mine = Order.objects.filter(customer_id=customer.id)
    assert resp.body["count"] == mine.count() >= 1
    listed = [(row["created_at"], row["id"]) for row in resp.body["results"]]
    assert listed == sorted(listed, reverse=True)


def test_seeding_again_skips_what_exists_and_more_adds_only_the_missing(
    catalogue: list[tuple[str, int, int, int]],
) -> None:
    _seed(orders=20, customers=3, seed=5)
    ids, events_before = (
        set(Order.objects.values_list("id", flat=True)),
        OutboxEvent.objects.count(),
    )

    again = _seed(orders=20, customers=3, seed=5)
    more = _seed(orders=25, customers=4, seed=5)

    assert again.startswith("customers: 0 created, 3 existed; orders: 0 created, 20 existed (")
    assert more.startswith("customers: 1 created, 3 existed; orders: 5 created, 20 existed (")
    assert ids < set(Order.objects.values_list("id", flat=True))
    assert OutboxEvent.objects.count() == events_before + 5 * 3


def test_orders_need_the_products_they_draw_from(
    catalogue: list[tuple[str, int, int, int]],
) -> None:
    with pytest.raises(CommandError, match=r"^70 of the products SKU-00001\.\.SKU-00100 do not"):
        _seed(orders=5, products=100)
    assert not Order.objects.exists() and not User.objects.exists()


def test_without_products_the_command_says_what_to_run() -> None:
    with pytest.raises(CommandError, match="no products to order: run seed_inventory"):
        _seed(orders=5)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"orders": -1}, "--orders must be 0 or more, got -1"),
        ({"orders": 5, "customers": 0}, "--customers must be 1 or more, got 0"),
        ({"orders": 5, "batch_size": 0}, "--batch-size must be 1 or more, got 0"),
        ({"orders": 5, "workers": 0}, "--workers must be 1 or more, got 0"),
        ({"orders": 5, "products": 0}, "--products must be 1 or more, got 0"),
    ],
)
def test_bad_counts_are_refused(options: dict[str, int], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        _seed(**options)
    assert not Order.objects.exists()


def test_seeded_ids_grow_with_the_order_number_and_never_collide() -> None:
    orders = [_seed_uuid(0, "order", n) for n in range(300)]
    payments = [_seed_uuid(0, "payment", n) for n in range(300)]
    other_seed = [_seed_uuid(1, "order", n) for n in range(300)]

    assert orders == sorted(orders)
    assert len(set(orders) | set(payments) | set(other_seed)) == 900
    assert {(u.version, u.variant) for u in orders} == {(8, uuid.RFC_4122)}
    assert _seed_uuid(0, "order", 7) == orders[7]  # the same (seed, kind, n), the same id
    with pytest.raises(ValueError, match="out of range"):
        _seed_uuid(0, "order", 1 << 32)


def test_newer_seeded_orders_have_later_times(catalogue: list[tuple[str, int, int, int]]) -> None:
    _seed(orders=30, customers=3, seed=8)

    by_id = list(Order.objects.order_by("id").values_list("created_at", flat=True))

    assert by_id == sorted(by_id)


@pytest.mark.django_db(transaction=True)
def test_parallel_workers_seed_the_same_orders_on_postgres() -> None:
    """Two workers (two connections) write the batches; the rows are those one worker writes."""
    require_postgres()
    call_command("seed_inventory", products=20, stdout=StringIO())
    _seed(orders=45, customers=4, seed=9, batch_size=7, workers=2)
    parallel = sorted(Order.objects.values_list("id", "customer_id", "total"))
    events_parallel = OutboxEvent.objects.filter(aggregate_type="order").count()
    Order.objects.all().delete()
    Payment.objects.all().delete()
    Reservation.objects.all().delete()
    OutboxEvent.objects.exclude(aggregate_type="product").delete()

    _seed(orders=45, customers=4, seed=9, batch_size=7)

    assert sorted(Order.objects.values_list("id", "customer_id", "total")) == parallel
    assert len(parallel) == events_parallel == 45
    assert _seed(orders=45, customers=4, seed=9, batch_size=7, workers=2).startswith(
        "customers: 0 created, 4 existed; orders: 0 created, 45 existed ("
    )
