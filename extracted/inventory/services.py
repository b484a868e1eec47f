"""The inventory's writes: each runs inside the caller's transaction (``chassis.web.unit_of_work``).

Every write locks the rows it changes (``SELECT ... FOR UPDATE``, products in sku order so two
writers never deadlock), bumps each written row's ``version`` by one, and records one own-outbox
event per written row. Before anything, it takes the capability's direction
(``WRITES.guard_write``): refused while frozen (``CapabilityFrozen``), and whether its events are
sent back to the monolith. Refusals are domain errors (``extracted.chassis.domain_errors``), given
their HTTP answer by the API layer. A refused write changes nothing: refusals are raised before
any change.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from contracts.events import (
    PRODUCT_CREATED,
    PRODUCT_RESERVED_CHANGED,
    PRODUCT_STOCK_ADJUSTED,
    PRODUCT_STOCK_COMMITTED,
    RESERVATION_COMMITTED,
    RESERVATION_CREATED,
    RESERVATION_RELEASED,
)
from extracted.chassis.domain_errors import (
    ConflictError,
    DomainError,
    InvalidStateError,
    NotFoundError,
    RuleValidationError,
)
from extracted.chassis.timefmt import utcnow
from extracted.inventory import outbox
from extracted.inventory.models import MAX_STOCK, Product, Reservation, ReservationLine
from extracted.inventory.wiring import WRITES

PENDING, COMMITTED, RELEASED = "pending", "committed", "released"


@dataclass(frozen=True)
class Shortage:
    sku: str
    requested: int
    available: int


class InsufficientStock(DomainError):
    code = "insufficient_stock"

    def __init__(self, shortages: list[Shortage]) -> None:
        super().__init__(
            "Insufficient stock.",
            shortages=[
                {"sku": s.sku, "requested": s.requested, "available": s.available}
                for s in sorted(shortages, key=lambda s: s.sku)
            ],
        )


def product_not_found(sku: str) -> NotFoundError:
    return NotFoundError(f"Product '{sku}' not found.")


def reservation_not_found(reservation_id: uuid.UUID) -> NotFoundError:
    return NotFoundError(f"Reservation '{reservation_id}' not found.")


def _lock_products(session: Session, skus: list[str]) -> dict[str, Product]:
    rows = session.scalars(
        select(Product)
        .where(Product.sku.in_(skus))
        .order_by(Product.sku)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).all()
    return {p.sku: p for p in rows}


def product_create(
    session: Session, *, sku: str, name: str, price: Decimal, on_hand: int
) -> Product:
    WRITES.guard_write(session)
    if session.get(Product, sku) is not None:
        raise ConflictError(f"Product '{sku}' already exists.")
    now = utcnow()
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
    session.add(product)
    try:
        session.flush()
    except IntegrityError:  # a concurrent create of the same sku committed first
        raise ConflictError(f"Product '{sku}' already exists.") from None
    outbox.record_product(session, product, PRODUCT_CREATED, now)
    return product


def product_adjust_stock(session: Session, *, sku: str, delta: int, reason: str) -> Product:
    """``on_hand += delta``; refused when fewer than ``reserved`` would remain."""
    WRITES.guard_write(session)
    product = _lock_products(session, [sku]).get(sku)
    if product is None:
        raise product_not_found(sku)
    if product.on_hand + delta < product.reserved:
        raise InsufficientStock([Shortage(sku, -delta, product.available)])
    if product.on_hand + delta > MAX_STOCK:  # answered like DRF's max_value, as the monolith does
        raise RuleValidationError(
            {
                "delta": [
                    f"Ensure this value is less than or equal to {MAX_STOCK - product.on_hand}."
                ]
            }
        )
    now = utcnow()
    product.on_hand += delta
    product.version += 1
    product.updated_at = now
    outbox.record_product(session, product, PRODUCT_STOCK_ADJUSTED, now)
    return product


def merge_lines(lines: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """The same sku twice is one line with the quantities summed; sorted by sku."""
    merged: dict[str, int] = {}
    for sku, quantity in lines:
        merged[sku] = merged.get(sku, 0) + quantity
    return sorted(merged.items())


def reservation_create(
    session: Session,
    *,
    order_id: uuid.UUID,
    lines: list[tuple[str, int]],
    reservation_id: uuid.UUID | None = None,
) -> Reservation:
    """Reserve every line or nothing; refused for a conflict, an unknown sku, then shortages."""
    WRITES.guard_write(session)
    wanted = merge_lines(lines)
    taken = session.scalar(select(Reservation.id).where(Reservation.order_id == order_id))
    if taken is not None:
        raise ConflictError(f"Order '{order_id}' already has a reservation.")
    if reservation_id is not None and session.get(Reservation, reservation_id) is not None:
        raise ConflictError(f"Reservation '{reservation_id}' already exists.")
    products = _lock_products(session, [sku for sku, _ in wanted])
    for sku, _quantity in wanted:
        if sku not in products:
            raise product_not_found(sku)
    shortages = [
        Shortage(sku, quantity, products[sku].available)
        for sku, quantity in wanted
        if products[sku].available < quantity
    ]
    if shortages:
        raise InsufficientStock(shortages)
    now = utcnow()
    for sku, quantity in wanted:
        product = products[sku]
        product.reserved += quantity
        product.version += 1
        product.updated_at = now
        outbox.record_product(session, product, PRODUCT_RESERVED_CHANGED, now)
    reservation = Reservation(
        id=reservation_id or uuid.uuid4(),
        order_id=order_id,
        status=PENDING,
        version=1,
        created_at=now,
        updated_at=now,
        lines=[ReservationLine(sku=sku, quantity=quantity) for sku, quantity in wanted],
    )
    session.add(reservation)
    try:
        session.flush()
    except IntegrityError:  # a concurrent reservation for the same order (or id) committed first
        session.rollback()
        if session.scalar(select(Reservation.id).where(Reservation.order_id == order_id)):
            raise ConflictError(f"Order '{order_id}' already has a reservation.") from None
        raise ConflictError(f"Reservation '{reservation.id}' already exists.") from None
    outbox.record_reservation(session, reservation, RESERVATION_CREATED, now)
    return reservation


def _lock_reservation(session: Session, reservation_id: uuid.UUID) -> Reservation:
    reservation = session.scalars(
        select(Reservation)
        .where(Reservation.id == reservation_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()
    if reservation is None:
        raise reservation_not_found(reservation_id)
    if reservation.status != PENDING:
        raise InvalidStateError(f"Reservation is {reservation.status}, expected pending.")
    return reservation


def _settle(session: Session, reservation_id: uuid.UUID, *, commit: bool) -> Reservation:
    WRITES.guard_write(session)
    reservation = _lock_reservation(session, reservation_id)
    products = _lock_products(session, [line.sku for line in reservation.lines])
    now = utcnow()
    for line in reservation.lines:
        product = products.get(line.sku)
        if product is None:  # a synced reservation naming a product this side never saw
            continue
        if commit:
            product.on_hand -= line.quantity
        product.reserved -= line.quantity
        product.version += 1
        product.updated_at = now
        event_type = PRODUCT_STOCK_COMMITTED if commit else PRODUCT_RESERVED_CHANGED
        outbox.record_product(session, product, event_type, now)
    reservation.status = COMMITTED if commit else RELEASED
    reservation.version += 1
    reservation.updated_at = now
    event_type = RESERVATION_COMMITTED if commit else RESERVATION_RELEASED
    outbox.record_reservation(session, reservation, event_type, now)
    return reservation


def reservation_commit(session: Session, *, reservation_id: uuid.UUID) -> Reservation:
    """Stock leaves: ``on_hand -= q`` and ``reserved -= q`` per line."""
    return _settle(session, reservation_id, commit=True)


def reservation_release(session: Session, *, reservation_id: uuid.UUID) -> Reservation:
    """Stock returns: ``reserved -= q`` per line."""
    return _settle(session, reservation_id, commit=False)
