"""Writes of the orders: checkout, cancel, fulfil.

Each service runs in one ``transaction.atomic()``, bumps the order's ``version`` by exactly 1 on
every write (version 1 on insert) and records one outbox event per write in the same transaction,
with the order's full new state (its lines included: they are child rows of the order's
aggregate). The inventory and payments services it calls record their own rows' events in the
same transaction, so a checkout is all or nothing, events included.

Each first checks that the monolith takes the orders' writes
(``reverse_sync.direction.require_writable``: 503 while sync changes direction or once the
orders service is the source); the inventory and payments writes they make check their own
capability, so the monolith's checkout, cancel and fulfil need all three ``forward``
(docs/reverse-sync.md, "Which directions go together").

Locks are taken in one order everywhere, so two writers never wait on each other in a cycle:
checkout locks its products (sku order) and then creates its reservation and payment; cancel and
fulfil lock the order row first, then the payment, then the reservation and its products.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from contracts import events
from monolith.errors import RuleValidationError
from monolith.inventory.errors import InsufficientStock, ReservationNotPending, Shortage
from monolith.inventory.models import Product, ReservationStatus
from monolith.inventory.services import (
    reservation_commit,
    reservation_create,
    reservation_release,
)
from monolith.money import MAX_AMOUNT, cents, money
from monolith.orders.errors import OrderNotConfirmed, OrderNotFound
from monolith.orders.models import MAX_LINES, CancelReason, Order, OrderLine, OrderStatus
from monolith.orders.states import order_state
from monolith.outbox.services import outbox_record
from monolith.payments.errors import PaymentNotInState
from monolith.payments.gateway import GatewayError
from monolith.payments.models import PaymentStatus
from monolith.payments.services import payment_authorize, payment_refund
from monolith.reverse_sync.direction import require_writable

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CheckoutResult:
    """The stored order, and why it was cancelled when it was: the shortages (for
    ``insufficient_stock``) or the gateway's reason (for ``payment_declined``)."""

    order: Order
    shortages: list[Shortage] = field(default_factory=list)
    decline_reason: str | None = None


class _Declined(Exception):
    """Rolls the checkout's savepoint back (reservation and declined payment alike)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _record(order: Order, event_type: str) -> None:
    outbox_record(
        aggregate_type="order",
        aggregate_id=str(order.id),
        event_type=event_type,
        version=order.version,
        payload=order_state(order),
        occurred_at=order.updated_at,
    )


def _merged(lines: Iterable[tuple[str, int]]) -> tuple[dict[str, int], dict[str, int]]:
    """(quantities by sku in sku order, index of each sku's first line in the request)."""
    quantities: dict[str, int] = {}
    first_index: dict[str, int] = {}
    for index, (sku, quantity) in enumerate(lines):
        if quantity < 1:
            raise RuleValidationError(
                {f"lines.{index}.quantity": ["Ensure this value is greater than or equal to 1."]}
            )
        quantities[sku] = quantities.get(sku, 0) + quantity
        first_index.setdefault(sku, index)
    return dict(sorted(quantities.items())), first_index


def _priced_lines(wanted: dict[str, int], first_index: dict[str, int]) -> list[OrderLine]:
    """One unsaved line per sku, priced from the product rows, which stay locked (sku order) until
    the checkout commits: the price and the stock seen are the ones the order gets. Every unknown
    sku is a field error on its (first) line; a total the money columns cannot hold or a total of
    nothing is an error on ``lines``."""
    products = {
        product.sku: product
        for product in Product.objects.select_for_update()
        .filter(sku__in=list(wanted))
        .order_by("sku")
    }
    unknown = {
        f"lines.{first_index[sku]}.sku": [f"Product '{sku}' not found."]
        for sku in wanted
        if sku not in products
    }
    if unknown:
        raise RuleValidationError(unknown)
    lines = [
        OrderLine(
            sku=sku,
            quantity=quantity,
            unit_price=products[sku].price,
            line_total=cents(products[sku].price * quantity),
        )
        for sku, quantity in wanted.items()
    ]
    total = sum((line.line_total for line in lines), Decimal("0.00"))
    if total > MAX_AMOUNT:
        raise RuleValidationError(
            {"lines": [f"Ensure the order total is no more than {money(MAX_AMOUNT)}."]}
        )
    if total <= 0:
        raise RuleValidationError({"lines": ["Ensure the order total is more than 0.00."]})
    return lines


def order_checkout(
    *,
    customer_id: uuid.UUID,
    lines: Sequence[tuple[str, int]],
    card_token: str,
    order_id: uuid.UUID | None = None,
) -> CheckoutResult:
    """Reserve the stock, take the payment (authorised and captured) and store the order.

    All in one transaction. The order is stored ``confirmed`` (holding the pending reservation
    and the captured payment) or, when stock is short, the card is declined or the gateway
    fails, ``cancelled`` with its reason and nothing else: a savepoint rolls the reservation and
    payment back. Either way it is the order's first write (``orders.order.placed.v1``).

    Refusals that store nothing: ``RuleValidationError`` for no lines, more than ``MAX_LINES``
    skus, an unknown sku (``lines.<i>.sku``) or a total out of bounds; the payments'
    ``InvalidCardToken`` for a malformed token.
    """
    wanted, first_index = _merged(lines)
    if not wanted:
        raise RuleValidationError({"lines": ["This list may not be empty."]})
    if len(wanted) > MAX_LINES:
        raise RuleValidationError(
            {"lines": [f"Ensure this field has no more than {MAX_LINES} elements."]}
        )
    order_id = order_id or uuid.uuid4()
    with transaction.atomic():
        require_writable("orders")
        order_lines = _priced_lines(wanted, first_index)
        total = sum((line.line_total for line in order_lines), Decimal("0.00"))
        shortages: list[Shortage] = []
        decline_reason: str | None = None
        cancel_reason: str | None = None
        reservation_id = payment_id = None
        try:
            with transaction.atomic():  # the savepoint every compensation rolls back to
                reservation = reservation_create(order_id=order_id, lines=wanted.items())
                payment = payment_authorize(
                    customer_id=customer_id,
                    amount=total,
                    card_token=card_token,
                    order_id=order_id,
                    capture=True,
                )
                if payment.status == PaymentStatus.DECLINED:
                    raise _Declined(payment.decline_reason or "declined")
                reservation_id, payment_id = reservation.id, payment.id
        except InsufficientStock as err:
            cancel_reason, shortages = CancelReason.INSUFFICIENT_STOCK, err.shortages
        except _Declined as declined:
            cancel_reason, decline_reason = CancelReason.PAYMENT_DECLINED, declined.reason
        except GatewayError:
            cancel_reason = CancelReason.PAYMENT_ERROR

        now = timezone.now()
        order = Order.objects.create(
            id=order_id,
            customer_id=customer_id,
            status=OrderStatus.CANCELLED if cancel_reason else OrderStatus.CONFIRMED,
            cancel_reason=cancel_reason,
            total=total,
            payment_id=payment_id,
            reservation_id=reservation_id,
            version=1,
            created_at=now,
            updated_at=now,
        )
        for line in order_lines:
            line.order = order
        OrderLine.objects.bulk_create(order_lines)
        _record(order, events.ORDER_PLACED)
    logger.info(
        "order placed",
        extra={
            "order_id": str(order.id),
            "status": order.status,
            "cancel_reason": cancel_reason,
            "total": money(total),
        },
    )
    return CheckoutResult(order=order, shortages=shortages, decline_reason=decline_reason)


def _lock(order_id: uuid.UUID, scope: uuid.UUID | None) -> Order:
    """Lock the order if ``scope`` (None: staff) may see it; else ``OrderNotFound``. The
    direction first (inside the write's transaction)."""
    require_writable("orders")
    orders = Order.objects.select_for_update().filter(id=order_id)
    if scope is not None:
        orders = orders.filter(customer_id=scope)
    order = orders.first()
    if order is None:
        raise OrderNotFound(order_id)
    if order.status != OrderStatus.CONFIRMED:
        raise OrderNotConfirmed(order.status)
    return order


def _save(order: Order, now: datetime, event_type: str) -> None:
    order.version += 1
    order.updated_at = now
    order.save(update_fields=["status", "cancel_reason", "version", "updated_at"])
    _record(order, event_type)


def order_cancel(*, order_id: uuid.UUID, scope: uuid.UUID | None, by_staff: bool) -> Order:
    """A ``confirmed`` order becomes ``cancelled`` (``cancelled_by_staff`` or
    ``cancelled_by_customer``): what is left of its payment is refunded and its reservation
    released, in one transaction. ``OrderNotFound`` outside ``scope``; ``OrderNotConfirmed`` for
    an order in another state; the payments' or inventory's ``invalid_state`` when the payment or
    reservation was moved elsewhere in a way a cancel cannot undo (e.g. the stock was shipped)."""
    with transaction.atomic():
        order = _lock(order_id, scope)
        if order.payment_id is not None:
            try:
                payment_refund(payment_id=order.payment_id)
            except PaymentNotInState as err:
                # Refunded in full already (through the payments API): nothing left to give back.
                if err.status != PaymentStatus.REFUNDED:
                    raise
        if order.reservation_id is not None:
            try:
                reservation_release(reservation_id=order.reservation_id)
            except ReservationNotPending as err:
                # Released already (through the inventory API): the stock is back already.
                if err.status != ReservationStatus.RELEASED:
                    raise
        order.status = OrderStatus.CANCELLED
        order.cancel_reason = (
            CancelReason.CANCELLED_BY_STAFF if by_staff else CancelReason.CANCELLED_BY_CUSTOMER
        )
        _save(order, timezone.now(), events.ORDER_CANCELLED)
    logger.info("order cancelled", extra={"order_id": str(order_id), "reason": order.cancel_reason})
    return order


def order_fulfil(*, order_id: uuid.UUID) -> Order:
    """A ``confirmed`` order is shipped: its reservation is committed (the stock leaves
    ``on_hand``) and the order becomes ``fulfilled``. Staff only: the API checks who asks."""
    with transaction.atomic():
        order = _lock(order_id, None)
        if order.reservation_id is not None:
            reservation_commit(reservation_id=order.reservation_id)
        order.status = OrderStatus.FULFILLED
        _save(order, timezone.now(), events.ORDER_FULFILLED)
    logger.info("order fulfilled", extra={"order_id": str(order_id)})
    return order
