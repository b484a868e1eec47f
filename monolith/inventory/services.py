"""Writes of the inventory.

Each service runs in one ``transaction.atomic()``, locks the product rows it changes with
``select_for_update()`` in sku order (so two writers never wait on each other in a cycle), bumps
``version`` by exactly 1 on every row it writes, and records one outbox event per row written in
the same transaction. Each first checks that the monolith takes the inventory's writes
(``reverse_sync.direction.require_writable``: 503 while sync changes direction or once the service
is the source). A refusal raises before anything is written, or inside the block so the
whole write rolls back: a refused write leaves no row and no event behind.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime
from decimal import Decimal
from functools import cache
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models.expressions import Col
from django.utils import timezone

from contracts import events
from monolith.inventory.errors import (
    InsufficientStock,
    OrderAlreadyReserved,
    ProductAlreadyExists,
    ProductNotFound,
    ReservationAlreadyExists,
    ReservationNotFound,
    ReservationNotPending,
    Shortage,
    StockLimitExceeded,
)
from monolith.inventory.models import (
    MAX_STOCK,
    Product,
    Reservation,
    ReservationLine,
    ReservationStatus,
)
from monolith.inventory.states import product_state, reservation_state
from monolith.outbox.services import outbox_record
from monolith.reverse_sync.direction import require_writable

logger = logging.getLogger(__name__)


def _record_product(product: Product, event_type: str) -> None:
    outbox_record(
        aggregate_type="product",
        aggregate_id=product.sku,
        event_type=event_type,
        version=product.version,
        payload=product_state(product),
        occurred_at=product.updated_at,
    )


def _record_reservation(reservation: Reservation, event_type: str) -> None:
    outbox_record(
        aggregate_type="reservation",
        aggregate_id=str(reservation.id),
        event_type=event_type,
        version=reservation.version,
        payload=reservation_state(reservation),
        occurred_at=reservation.updated_at,
    )


def _save_product(product: Product, now: datetime, event_type: str) -> None:
    """Write the changed stock figures of a locked product as its next version."""
    product.version += 1
    product.updated_at = now
    product.save(update_fields=["on_hand", "reserved", "version", "updated_at"])
    _record_product(product, event_type)


def _lock_products(skus: Iterable[str]) -> dict[str, Product]:
    """Lock the products with these skus, in sku order; unknown skus are simply absent."""
    locked = Product.objects.select_for_update().filter(sku__in=list(skus)).order_by("sku")
    return {product.sku: product for product in locked}


def product_create(*, sku: str, name: str, price: Decimal, on_hand: int = 0) -> Product:
    now = timezone.now()
    product = Product(
        sku=sku,
        name=name,
        price=price,
        on_hand=on_hand,
        reserved=0,
        version=1,
        created_at=now,
        updated_at=now,
    )
    with transaction.atomic():
        require_writable("inventory")
        try:
            # A savepoint: a concurrent create of the same sku fails here, not the whole block.
            with transaction.atomic():
                product.save(force_insert=True)
        except IntegrityError:
            if Product.objects.filter(sku=sku).exists():
                raise ProductAlreadyExists(sku) from None
            raise
        _record_product(product, events.PRODUCT_CREATED)
    return product


def product_adjust_stock(*, sku: str, delta: int, reason: str) -> Product:
    """Add ``delta`` (negative: remove) to ``on_hand``; never below what is reserved.

    Usually one statement (``_adjust_in_place``); when it writes nothing, the locking path says
    which refusal it is (or writes after all, if a concurrent write made the delta valid)."""
    with transaction.atomic():
        require_writable("inventory")
        now = timezone.now()
        product = _adjust_in_place(sku, delta, now)
        if product is not None:
            _record_product(product, events.PRODUCT_STOCK_ADJUSTED)
        else:
            product = _lock_and_adjust(sku, delta, now)
    logger.info(
        "stock adjusted",
        extra={"sku": sku, "delta": delta, "reason": reason, "version": product.version},
    )
    return product


def _lock_and_adjust(sku: str, delta: int, now: datetime) -> Product:
    product = _lock_products([sku]).get(sku)
    if product is None:
        raise ProductNotFound(sku)
    new_on_hand = product.on_hand + delta
    if new_on_hand < product.reserved:
        raise InsufficientStock([Shortage(sku=sku, requested=-delta, available=product.available)])
    if new_on_hand > MAX_STOCK:
        raise StockLimitExceeded(field="delta", limit=MAX_STOCK - product.on_hand)
    product.on_hand = new_on_hand
    _save_product(product, now, events.PRODUCT_STOCK_ADJUSTED)
    return product


def _adjust_in_place(sku: str, delta: int, now: datetime) -> Product | None:
    """``on_hand += delta`` as the row's next version in one ``UPDATE ... RETURNING``, only
    where the new figure keeps the rules (not below ``reserved``, not past MAX_STOCK); the
    written product, or None when no row was written. The row stays locked to the end of the
    transaction, as ``select_for_update`` leaves it.

    Why: the ORM's locking read and its save are much of an adjustment's CPU, and the
    adjustment is the monolith's hottest write. Databases
    without ``RETURNING`` (SQLite before 3.35), and deltas no valid adjustment has, take the
    locking path."""
    if abs(delta) > MAX_STOCK or not connection.features.can_return_columns_from_insert:
        return None
    sql, converters = _adjust_statement(connection.vendor)
    updated_at = Product._meta.get_field("updated_at").get_db_prep_save(now, connection)
    with connection.cursor() as cursor:
        # The bounds are compared without adding to the column, so no sum can overflow it.
        cursor.execute(sql, [delta, updated_at, sku, -delta, MAX_STOCK - delta])
        row = cursor.fetchone()
    if row is None:
        return None
    values = []
    for value, (column, field_converters) in zip(row, converters, strict=True):
        for convert in field_converters:
            value = convert(value, column, connection)
        values.append(value)
    return Product.from_db(connection.alias, [f.attname for f in _PRODUCT_FIELDS], values)


_PRODUCT_FIELDS = Product._meta.concrete_fields
_Converters = list[tuple[Col, list[Callable[[Any, Col, Any], Any]]]]


@cache
def _adjust_statement(vendor: str) -> tuple[str, _Converters]:
    """``_adjust_in_place``'s SQL for this database (built once from the model), and per
    returned column the converters the ORM would apply to it (SQLite's dates and decimals)."""
    meta = Product._meta
    quote = connection.ops.quote_name
    columns = {field.name: quote(field.column) for field in _PRODUCT_FIELDS}
    sku, on_hand, reserved, version, updated_at = (
        columns[name] for name in ("sku", "on_hand", "reserved", "version", "updated_at")
    )
    returned = ", ".join(columns.values())
    sql = (
        f"UPDATE {quote(meta.db_table)}"
        f" SET {on_hand} = {on_hand} + %s, {version} = {version} + 1, {updated_at} = %s"
        f" WHERE {sku} = %s AND {on_hand} - {reserved} >= %s AND {on_hand} <= %s"
        f" RETURNING {returned}"
    )
    converters = []
    for field in _PRODUCT_FIELDS:
        column = field.get_col(meta.db_table)
        # As the ORM's compiler applies them: the backend's converters, then the field's.
        converters.append(
            (
                column,
                connection.ops.get_db_converters(column) + column.get_db_converters(connection),
            )
        )
    return sql, converters


def _merged(lines: Iterable[tuple[str, int]]) -> dict[str, int]:
    """Sum the quantities of repeated skus; keys in sku order."""
    merged: dict[str, int] = {}
    for sku, quantity in lines:
        merged[sku] = merged.get(sku, 0) + quantity
    return dict(sorted(merged.items()))


def reservation_create(
    *,
    order_id: uuid.UUID,
    lines: Iterable[tuple[str, int]],
    reservation_id: uuid.UUID | None = None,
) -> Reservation:
    """Reserve every line for ``order_id``, or nothing at all.

    Refusals, in the contract's order: the order already has a reservation (whatever its status);
    the first unknown sku in sku order; every line that is short of stock.
    """
    wanted = _merged(lines)
    if not wanted:
        raise ValueError("a reservation needs at least one line")
    with transaction.atomic():
        require_writable("inventory")
        if Reservation.objects.filter(order_id=order_id).exists():
            raise OrderAlreadyReserved(order_id)
        if reservation_id is not None and Reservation.objects.filter(id=reservation_id).exists():
            raise ReservationAlreadyExists(reservation_id)
        products = _lock_products(wanted)
        for sku in wanted:
            if sku not in products:
                raise ProductNotFound(sku)
        shortages = [
            Shortage(sku=sku, requested=quantity, available=products[sku].available)
            for sku, quantity in wanted.items()
            if quantity > products[sku].available
        ]
        if shortages:
            raise InsufficientStock(shortages)

        now = timezone.now()
        reservation = Reservation(
            id=reservation_id or uuid.uuid4(),
            order_id=order_id,
            status=ReservationStatus.PENDING,
            version=1,
            created_at=now,
            updated_at=now,
        )
        try:
            # A savepoint: a concurrent reservation for the same order fails here.
            with transaction.atomic():
                reservation.save(force_insert=True)
        except IntegrityError:
            if Reservation.objects.filter(order_id=order_id).exists():
                raise OrderAlreadyReserved(order_id) from None
            if Reservation.objects.filter(id=reservation.id).exists():
                raise ReservationAlreadyExists(reservation.id) from None
            raise
        ReservationLine.objects.bulk_create(
            ReservationLine(reservation=reservation, product_id=sku, quantity=quantity)
            for sku, quantity in wanted.items()
        )
        for sku, quantity in wanted.items():
            product = products[sku]
            product.reserved += quantity
            _save_product(product, now, events.PRODUCT_RESERVED_CHANGED)
        _record_reservation(reservation, events.RESERVATION_CREATED)
    return reservation


def _settle(
    reservation_id: uuid.UUID,
    *,
    status: ReservationStatus,
    consume: bool,
    product_event: str,
    reservation_event: str,
) -> Reservation:
    """Move a pending reservation to ``status``; its quantities leave ``reserved`` (and
    ``on_hand`` too when ``consume``)."""
    with transaction.atomic():
        require_writable("inventory")
        reservation = Reservation.objects.select_for_update().filter(id=reservation_id).first()
        if reservation is None:
            raise ReservationNotFound(reservation_id)
        if reservation.status != ReservationStatus.PENDING:
            raise ReservationNotPending(reservation.status)
        quantities = {line.product_id: line.quantity for line in reservation.lines.all()}
        products = _lock_products(quantities)
        now = timezone.now()
        for sku, quantity in sorted(quantities.items()):
            product = products[sku]
            product.reserved -= quantity
            if consume:
                product.on_hand -= quantity
            _save_product(product, now, product_event)
        reservation.status = status
        reservation.version += 1
        reservation.updated_at = now
        reservation.save(update_fields=["status", "version", "updated_at"])
        _record_reservation(reservation, reservation_event)
    return reservation


def reservation_commit(*, reservation_id: uuid.UUID) -> Reservation:
    """The reserved stock leaves the warehouse: ``on_hand -= q`` and ``reserved -= q``."""
    return _settle(
        reservation_id,
        status=ReservationStatus.COMMITTED,
        consume=True,
        product_event=events.PRODUCT_STOCK_COMMITTED,
        reservation_event=events.RESERVATION_COMMITTED,
    )


def reservation_release(*, reservation_id: uuid.UUID) -> Reservation:
    """The reserved stock becomes available again: ``reserved -= q``."""
    return _settle(
        reservation_id,
        status=ReservationStatus.RELEASED,
        consume=False,
        product_event=events.PRODUCT_RESERVED_CHANGED,
        reservation_event=events.RESERVATION_RELEASED,
    )
