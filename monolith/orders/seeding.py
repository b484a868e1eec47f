"""Demo data at benchmark volume: customers and past orders, each order with its captured payment
and committed reservation, the same for the same seed.

* Customers ``customer-0000001..C``: ids derived from the username (uuid5), unusable passwords (no
  one can log in as them; tests and benchmarks mint tokens), nothing else.
* Orders: the n-th order's ids (order, payment, reservation, events) depend on (seed, n) alone;
  its contents are drawn from a seeded RNG (one per chunk of ``CHUNK`` orders, so they are the
  same whatever the count for the same customer and product counts), over customers ``1..C`` and
  products ``SKU-00001..P`` (made by ``seed_inventory``; their current prices price the lines).
  Orders are spread over the year before the seeding in order of n, and their ids grow with n
  (``_seed_uuid``), so the load appends to the indexes. Every order is ``fulfilled``: it was
  placed (a captured payment for its total, a reservation of its lines) and shipped (the
  reservation committed), so product stock figures are untouched and every row is a state the
  API could have produced: order version 2, reservation version 2, payment version 1.
* Each seeded row records one outbox event in the same transaction, like ``seed_inventory``: its
  current state at its current version (``orders.order.fulfilled.v1``,
  ``inventory.reservation.committed.v1``, ``payments.payment.captured.v1``), pending for the relay,
  so sync and backfill carry seeded rows exactly like written ones.
* Rows go in with ``COPY`` on PostgreSQL (``bulk_insert``), one transaction per batch; orders that
  exist already (same id) are skipped, so a re-run adds only what is missing.
"""

from __future__ import annotations

import hashlib
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.contrib.auth.hashers import make_password
from django.db import connection, connections, transaction
from django.utils import timezone

from contracts import events
from contracts.events import (
    OrderLine as OrderLineState,
)
from contracts.events import (
    OrderState,
    PaymentState,
    ReservationLine,
    ReservationState,
)
from monolith.identity.models import User
from monolith.inventory.models import Product, Reservation, ReservationStatus
from monolith.inventory.models import ReservationLine as ReservationLineRow
from monolith.inventory.seeding import in_batches, seed_sku
from monolith.money import MAX_AMOUNT, cents, money
from monolith.orders.bulk_insert import insert_rows
from monolith.orders.models import Order, OrderLine, OrderStatus
from monolith.outbox.models import OutboxEvent
from monolith.payments.gateway import gateway_reference
from monolith.payments.models import Payment, PaymentStatus

#: Orders drawn from one RNG: the n-th order is the same whatever the requested count.
CHUNK = 1000
MAX_LINES_PER_ORDER = 4
MAX_QUANTITY = 3
_CUSTOMER_NAMESPACE = uuid.UUID("5d9b3c2e-7f4a-4e41-9a57-0c1f3e2d8b61")
_DAY_US = 86_400 * 1_000_000
ZERO = Decimal("0.00")


class MissingProducts(ValueError):
    """The products the orders draw from are not all there."""


@dataclass(frozen=True)
class OrderSeedResult:
    customers_created: int
    customers_existed: int
    orders_created: int
    orders_existed: int
    seconds: float


@dataclass(frozen=True)
class _OrderDraft:
    order_id: uuid.UUID
    payment_id: uuid.UUID
    reservation_id: uuid.UUID
    number: int
    customer: int
    lines: dict[str, int]  # sku order
    jitter: float  # where in its time slot it was placed, [0, 1)
    fulfilled_after_us: int


def seed_username(number: int) -> str:
    return f"customer-{number:07d}"


def seed_customer_id(number: int) -> uuid.UUID:
    """The id of seeded customer ``number`` (the same in every database and every run)."""
    return uuid.uuid5(_CUSTOMER_NAMESPACE, seed_username(number))


def _seed_uuid(seed: int, kind: str, number: int) -> uuid.UUID:
    """A UUIDv8 (RFC 9562, custom layout) derived from (seed, kind, number) alone: 16 bits of the
    (seed, kind) hash, then ``number`` (32 bits), then 74 bits of the (seed, kind, number) hash.

    Ids of one kind grow with ``number``, so a bulk load appends to the primary-key indexes
    instead of writing all over them (the sortable-id idea of UUIDv7), and they stay unique:
    no two (seed, kind, number) share one (the hash part keeps other seeds apart).
    """
    if not 0 <= number < 1 << 32:
        raise ValueError(f"order number out of range: {number}")
    prefix = int.from_bytes(hashlib.blake2b(f"{seed}:{kind}".encode(), digest_size=2).digest())
    tail = int.from_bytes(
        hashlib.blake2b(f"{seed}:{kind}:{number}".encode(), digest_size=10).digest()
    )
    value = (prefix << 112) | (number << 80) | (8 << 76)  # custom_a (48 bits), version 8
    value |= ((tail >> 62) & 0xFFF) << 64  # custom_b (12 bits)
    value |= (0b10 << 62) | (tail & ((1 << 62) - 1))  # variant, custom_c (62 bits)
    return uuid.UUID(int=value)


def _order_drafts(count: int, *, products: int, customers: int, seed: int) -> Iterator[_OrderDraft]:
    """Order ``n``'s ids depend on (seed, n) alone, so re-runs with other counts find and skip
    the orders they made before; its contents come from its chunk's RNG."""
    for chunk_start in range(0, count, CHUNK):
        rng = random.Random(f"orders:{seed}:{chunk_start // CHUNK}")
        for number in range(chunk_start, min(chunk_start + CHUNK, count)):
            customer = rng.randint(1, customers)
            lines: dict[str, int] = {}
            for _ in range(rng.randint(1, MAX_LINES_PER_ORDER)):
                sku = seed_sku(rng.randint(1, products))
                lines[sku] = lines.get(sku, 0) + rng.randint(1, MAX_QUANTITY)
            jitter = rng.random()
            fulfilled_after_us = rng.randrange(_DAY_US // 24, 3 * _DAY_US)
            yield _OrderDraft(
                _seed_uuid(seed, "order", number),
                _seed_uuid(seed, "payment", number),
                _seed_uuid(seed, "reservation", number),
                number,
                customer,
                dict(sorted(lines.items())),
                jitter,
                fulfilled_after_us,
            )


def seed_customers(*, count: int, batch_size: int = 10_000) -> tuple[int, int]:
    """Create the missing customers ``1..count``; return (created, existed)."""
    created = existed = 0
    now = timezone.now()
    for start in range(1, count + 1, batch_size):
        numbers = range(start, min(start + batch_size, count + 1))
        ids = {seed_customer_id(n): n for n in numbers}
        with transaction.atomic():
            there = set(User.objects.filter(id__in=list(ids)).values_list("id", flat=True))
            rows = [
                (
                    customer_id,
                    make_password(None),
                    seed_username(number),
                    "",
                    "",
                    "",
                    False,
                    False,
                    True,
                    now,
                )
                for customer_id, number in ids.items()
                if customer_id not in there
            ]
            insert_rows(
                User,
                (
                    "id",
                    "password",
                    "username",
                    "first_name",
                    "last_name",
                    "email",
                    "is_staff",
                    "is_superuser",
                    "is_active",
                    "date_joined",
                ),
                rows,
            )
        created += len(rows)
        existed += len(there)
    return created, existed


def _prices(products: int) -> dict[str, Decimal]:
    """The price of each of ``SKU-00001..products``; ``MissingProducts`` unless all exist."""
    catalogue = dict(Product.objects.values_list("sku", "price"))
    skus = [seed_sku(n) for n in range(1, products + 1)]
    missing = [sku for sku in skus if sku not in catalogue]
    if missing:
        raise MissingProducts(
            f"{len(missing)} of the products {skus[0]}..{skus[-1]} do not exist (first: "
            f"{missing[0]}); run seed_inventory --products {products} first"
        )
    return {sku: catalogue[sku] for sku in skus}


@dataclass(frozen=True)
class _Clock:
    """When order ``n`` of ``count`` was placed: the orders span the year before the seeding
    (ending 3 days ago), in order of ``n``, so newer orders have larger ids and later times (the
    listing's index, like the primary key's, is appended to rather than written all over)."""

    anchor: datetime
    count: int

    def placed(self, draft: _OrderDraft) -> datetime:
        slot_us = (365 - 3) * _DAY_US / self.count
        before_us = (self.count - draft.number - draft.jitter) * slot_us
        return self.anchor - timedelta(days=3, microseconds=int(before_us))


class _BatchRows:
    """Every row one batch of orders writes, table by table, in insert order."""

    def __init__(self, seed: int, clock: _Clock) -> None:
        self.seed = seed
        self.clock = clock
        self.orders: list[tuple[object, ...]] = []
        self.order_lines: list[tuple[object, ...]] = []
        self.payments: list[tuple[object, ...]] = []
        self.reservations: list[tuple[object, ...]] = []
        self.reservation_lines: list[tuple[object, ...]] = []
        self.events: list[tuple[object, ...]] = []

    def event(
        self,
        number: int,
        aggregate: str,
        key: uuid.UUID,
        event_type: str,
        state: object,
        when: datetime,
    ) -> None:
        assert isinstance(state, OrderState | PaymentState | ReservationState)
        self.events.append(
            (
                _seed_uuid(self.seed, f"{aggregate}-event", number),
                aggregate,
                str(key),
                event_type,
                state.version,
                state.model_dump_json(),
                "monolith",
                when,
            )
        )

    def add(self, draft: _OrderDraft, prices: dict[str, Decimal]) -> None:
        customer_id = seed_customer_id(draft.customer)
        placed = self.clock.placed(draft)
        fulfilled = placed + timedelta(microseconds=draft.fulfilled_after_us)
        priced = [
            (sku, quantity, prices[sku], cents(prices[sku] * quantity))
            for sku, quantity in draft.lines.items()
        ]
        total = sum((line_total for *_, line_total in priced), ZERO)
        if not ZERO < total <= MAX_AMOUNT:
            # A draft over free products only (or out of bounds) would be no valid order.
            return

        self.payments.append(
            (
                draft.payment_id,
                customer_id,
                draft.order_id,
                total,
                PaymentStatus.CAPTURED.value,
                total,
                ZERO,
                None,
                gateway_reference(draft.payment_id),
                1,
                placed,
                placed,
            )
        )
        payment = PaymentState(
            id=draft.payment_id,
            customer_id=customer_id,
            order_id=draft.order_id,
            amount=money(total),
            status="captured",
            captured_amount=money(total),
            refunded_amount=money(ZERO),
            decline_reason=None,
            gateway_reference=gateway_reference(draft.payment_id),
            refunds=[],
            version=1,
            created_at=placed,
            updated_at=placed,
        )
        self.event(
            draft.number, "payment", draft.payment_id, events.PAYMENT_CAPTURED, payment, placed
        )

        self.reservations.append(
            (
                draft.reservation_id,
                draft.order_id,
                ReservationStatus.COMMITTED.value,
                2,
                placed,
                fulfilled,
            )
        )
        for sku, quantity in draft.lines.items():
            self.reservation_lines.append((draft.reservation_id, sku, quantity))
        reservation = ReservationState(
            id=draft.reservation_id,
            order_id=draft.order_id,
            status="committed",
            lines=[ReservationLine(sku=sku, quantity=q) for sku, q in draft.lines.items()],
            version=2,
            created_at=placed,
            updated_at=fulfilled,
        )
        self.event(
            draft.number,
            "reservation",
            draft.reservation_id,
            events.RESERVATION_COMMITTED,
            reservation,
            fulfilled,
        )

        self.orders.append(
            (
                draft.order_id,
                customer_id,
                OrderStatus.FULFILLED.value,
                None,
                total,
                draft.payment_id,
                draft.reservation_id,
                2,
                placed,
                fulfilled,
            )
        )
        for sku, quantity, unit_price, line_total in priced:
            self.order_lines.append((draft.order_id, sku, quantity, unit_price, line_total))
        order = OrderState(
            id=draft.order_id,
            customer_id=customer_id,
            status="fulfilled",
            cancel_reason=None,
            lines=[
                OrderLineState(
                    sku=sku, quantity=q, unit_price=money(price), line_total=money(line_total)
                )
                for sku, q, price, line_total in priced
            ],
            total=money(total),
            payment_id=draft.payment_id,
            reservation_id=draft.reservation_id,
            version=2,
            created_at=placed,
            updated_at=fulfilled,
        )
        self.event(draft.number, "order", draft.order_id, events.ORDER_FULFILLED, order, fulfilled)

    def insert(self) -> None:
        insert_rows(
            Order,
            (
                "id",
                "customer_id",
                "status",
                "cancel_reason",
                "total",
                "payment_id",
                "reservation_id",
                "version",
                "created_at",
                "updated_at",
            ),
            self.orders,
        )
        insert_rows(
            OrderLine,
            ("order_id", "sku", "quantity", "unit_price", "line_total"),
            self.order_lines,
        )
        insert_rows(
            Payment,
            (
                "id",
                "customer_id",
                "order_id",
                "amount",
                "status",
                "captured_amount",
                "refunded_amount",
                "decline_reason",
                "gateway_reference",
                "version",
                "created_at",
                "updated_at",
            ),
            self.payments,
        )
        insert_rows(
            Reservation,
            ("id", "order_id", "status", "version", "created_at", "updated_at"),
            self.reservations,
        )
        insert_rows(
            ReservationLineRow, ("reservation_id", "product_id", "quantity"), self.reservation_lines
        )
        insert_rows(
            OutboxEvent,
            (
                "event_id",
                "aggregate_type",
                "aggregate_id",
                "event_type",
                "version",
                "payload",
                "origin",
                "occurred_at",
            ),
            self.events,
        )


def _seed_batch(
    batch: list[_OrderDraft], *, seed: int, clock: _Clock, prices: dict[str, Decimal]
) -> tuple[int, int]:
    """Write one batch of orders (skipping those that exist) in one transaction; (created,
    existed)."""
    with transaction.atomic():
        there = set(
            Order.objects.filter(id__in=[d.order_id for d in batch]).values_list("id", flat=True)
        )
        rows = _BatchRows(seed, clock)
        for draft in batch:
            if draft.order_id not in there:
                rows.add(draft, prices)
        rows.insert()
    return len(rows.orders), len(there)


def _in_parallel(
    batches: Iterator[list[_OrderDraft]],
    write: Callable[[list[_OrderDraft]], tuple[int, int]],
    workers: int,
) -> tuple[int, int]:
    """``write`` every batch on ``workers`` threads, each with its own database connection (one
    builds its rows while another's transaction is busy in the database); (created, existed)."""
    lock = threading.Lock()
    totals = [0, 0]
    errors: list[BaseException] = []

    def work() -> None:
        try:
            while not errors:
                with lock:
                    batch = next(batches, None)
                if batch is None:
                    return
                created, existed = write(batch)
                with lock:
                    totals[0] += created
                    totals[1] += existed
        except BaseException as err:  # re-raised in the caller's thread
            errors.append(err)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, name=f"seed-orders-{i}") for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return totals[0], totals[1]


def seed_orders(
    *,
    count: int,
    customers: int,
    products: int,
    seed: int = 0,
    batch_size: int = 5000,
    workers: int = 1,
) -> OrderSeedResult:
    """Create customers ``1..customers`` and orders ``0..count-1`` that do not exist yet.

    ``workers`` > 1 writes batches on that many threads and connections at once (PostgreSQL
    only: SQLite has one writer); each batch is still one transaction, and a failed batch stops
    the others after their current one.
    """
    if count < 0 or customers < 0 or products < 0:
        raise ValueError("counts must be 0 or more")
    if count and (customers < 1 or products < 1):
        raise ValueError("orders need at least one customer and one product")
    if batch_size < 1 or workers < 1:
        raise ValueError("batch_size and workers must be at least 1")
    started = time.perf_counter()
    prices = _prices(products) if count else {}  # before anything is written
    customers_created, customers_existed = seed_customers(count=customers)
    orders_created = orders_existed = 0
    if count:
        clock = _Clock(anchor=timezone.now(), count=count)
        batches = in_batches(
            _order_drafts(count, products=products, customers=customers, seed=seed), batch_size
        )

        def write(batch: list[_OrderDraft]) -> tuple[int, int]:
            return _seed_batch(batch, seed=seed, clock=clock, prices=prices)

        if workers > 1 and connection.vendor == "postgresql":
            orders_created, orders_existed = _in_parallel(batches, write, workers)
        else:
            for batch in batches:
                created, existed = write(batch)
                orders_created += created
                orders_existed += existed
    return OrderSeedResult(
        customers_created,
        customers_existed,
        orders_created,
        orders_existed,
        time.perf_counter() - started,
    )
