"""Writes of the orders: checkout, cancel, fulfil.

They reach the stock and the money through two ports (``ports.py``: reserve, commit, release;
charge, give back), each with two adapters, picked per call from the capability's direction
(``port_choice.py``): **in process** (the monolith's own inventory and payments services) while
the monolith takes that capability's writes (``forward``), **remote** (HTTP to the owner through
the façade) once the service does (``reverse``); while a switch freezes it, 503 + Retry-After.
This is branch by abstraction (docs/branch-by-abstraction.md): the orders keep working through
every switch of inventory and payments, before the orders themselves move.

* Every port in process: one ``transaction.atomic()``, as before the ports existed. The order's
  ``version`` goes up by exactly 1 on every write (1 on insert) with one outbox event per write
  in the same transaction, carrying the order's full new state (lines included); the inventory
  and payments services record their own rows' events in that transaction, so a checkout is
  all or nothing, events included.
* Any port remote: steps over a durable record, committed before each call, with compensation
  and a recovery pass (``order_steps.py``, ``order_recovery.py``).

Each first checks that the monolith takes the orders' writes
(``reverse_sync.direction.require_writable``: 503 while sync changes direction or once the
orders service is the source). Locks are taken in one order everywhere, so two writers never
wait on each other in a cycle: checkout locks its products (sku order) and then creates its
reservation and payment; cancel and fulfil lock the order row first, then the payment, then the
reservation and its products.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from contracts import events
from monolith.errors import RuleValidationError
from monolith.inventory.errors import Shortage
from monolith.money import money
from monolith.orders import order_steps
from monolith.orders.in_process import InProcessPayments, InProcessStock
from monolith.orders.models import (
    MAX_LINES,
    CancelReason,
    Order,
    OrderLine,
    OrderStatus,
    ProgressKind,
)
from monolith.orders.order_rows import (
    CheckoutResult,
    lock_confirmed,
    merged_lines,
    priced_lines,
    record_order_event,
    save_order,
)
from monolith.orders.port_choice import where
from monolith.orders.ports import Charged, Declined, ShortOfStock
from monolith.reverse_sync.direction import require_writable

__all__ = ["CheckoutResult", "order_cancel", "order_checkout", "order_fulfil", "remote_ports"]

logger = logging.getLogger(__name__)


class _Declined(Exception):
    """Rolls the checkout's savepoint back (reservation and declined payment alike)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def remote_ports() -> bool:
    """Does an order write reach an owner over HTTP now? (503 while a switch freezes one.)"""
    return "remote" in (where("inventory"), where("payments"))


def order_checkout(
    *,
    customer_id: uuid.UUID,
    lines: Sequence[tuple[str, int]],
    card_token: str,
    order_id: uuid.UUID | None = None,
    idempotency_record_id: uuid.UUID | None = None,
    answer: order_steps.CheckoutAnswer = order_steps.no_answer,
) -> CheckoutResult:
    """Reserve the stock, take the payment (authorised and captured) and store the order.

    The order is stored ``confirmed`` (holding the pending reservation and the captured payment)
    or, when stock is short, the card is declined or the gateway fails, ``cancelled`` with its
    reason and nothing else held: with every port in process a savepoint rolls the reservation
    and payment back; with a remote port they are given back (compensation). Either way it is
    the order's first write (``orders.order.placed.v1``). An owner that cannot be reached
    stores no order and answers 503 (``ports.OwnerUnavailable``), once whatever was done is
    undone.

    Refusals that store nothing: ``RuleValidationError`` for no lines, more than ``MAX_LINES``
    skus, an unknown sku (``lines.<i>.sku``) or a total out of bounds; the payments'
    ``InvalidCardToken`` for a malformed token (in process; the remote path's tokens are checked
    by the API first). ``idempotency_record_id`` and ``answer`` (remote path): the client's
    ``Idempotency-Key`` record, which keeps ``answer(result)`` when the outcome is decided.
    """
    wanted, first_index = merged_lines(lines)
    if not wanted:
        raise RuleValidationError({"lines": ["This list may not be empty."]})
    if len(wanted) > MAX_LINES:
        raise RuleValidationError(
            {"lines": [f"Ensure this field has no more than {MAX_LINES} elements."]}
        )
    order_id = order_id or uuid.uuid4()
    if remote_ports():
        progress = order_steps.checkout_start(
            order_id=order_id,
            customer_id=customer_id,
            wanted=wanted,
            first_index=first_index,
            card_token=card_token,
            idempotency_record_id=idempotency_record_id,
        )
        progress = order_steps.run_checkout(progress, answer, first_run=True)
        result = order_steps.checkout_outcome(progress)
    else:
        result = _checkout_in_process(order_id, customer_id, wanted, first_index, card_token)
    order = result.order
    logger.info(
        "order placed",
        extra={
            "order_id": str(order.id),
            "status": order.status,
            "cancel_reason": order.cancel_reason,
            "total": money(order.total),
        },
    )
    return result


def _checkout_in_process(
    order_id: uuid.UUID,
    customer_id: uuid.UUID,
    wanted: dict[str, int],
    first_index: dict[str, int],
    card_token: str,
) -> CheckoutResult:
    """Every port in process: all in one transaction."""
    stock, payments = InProcessStock(), InProcessPayments()
    with transaction.atomic():
        require_writable("orders")
        order_lines = priced_lines(wanted, first_index)
        total = sum((line.line_total for line in order_lines), Decimal("0.00"))
        shortages: list[Shortage] = []
        decline_reason: str | None = None
        cancel_reason: str | None = None
        reservation_id = payment_id = None
        try:
            with transaction.atomic():  # the savepoint every compensation rolls back to
                reserved = stock.reserve(
                    reservation_id=uuid.uuid4(), order_id=order_id, lines=list(wanted.items())
                )
                if isinstance(reserved, ShortOfStock):
                    raise _Short(reserved.shortages)
                charged = payments.charge(
                    key=f"checkout-{order_id}-charge",
                    payment_id=order_steps.proposed_payment_id(order_id),
                    customer_id=customer_id,
                    amount=total,
                    card_token=card_token,
                    order_id=order_id,
                )
                if isinstance(charged, Declined):
                    raise _Declined(charged.reason)
                if not isinstance(charged, Charged):
                    raise _GatewayFailed()
                reservation_id, payment_id = reserved.reservation_id, charged.payment_id
        except _GatewayFailed:
            cancel_reason = CancelReason.PAYMENT_ERROR
        except _Short as short:
            cancel_reason, shortages = CancelReason.INSUFFICIENT_STOCK, short.shortages
        except _Declined as declined:
            cancel_reason, decline_reason = CancelReason.PAYMENT_DECLINED, declined.reason

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
        record_order_event(order, events.ORDER_PLACED)
    return CheckoutResult(order=order, shortages=shortages, decline_reason=decline_reason)


class _GatewayFailed(Exception):
    """Leaves the checkout's savepoint: nothing was charged, the reservation is rolled back."""


class _Short(Exception):
    """Leaves the checkout's savepoint with nothing reserved."""

    def __init__(self, shortages: list[Shortage]) -> None:
        super().__init__("short of stock")
        self.shortages = shortages


def order_cancel(*, order_id: uuid.UUID, scope: uuid.UUID | None, by_staff: bool) -> Order:
    """A ``confirmed`` order becomes ``cancelled`` (``cancelled_by_staff`` or
    ``cancelled_by_customer``): what is left of its payment is given back and its reservation
    released. ``OrderNotFound`` outside ``scope``; ``OrderNotConfirmed`` for an order in another
    state; the inventory's (or payments') ``invalid_state`` when the reservation (or payment) was
    moved elsewhere in a way a cancel cannot undo (e.g. the stock was shipped)."""
    if remote_ports():
        progress = order_steps.settle_start(
            kind=ProgressKind.CANCEL, order_id=order_id, scope=scope, by_staff=by_staff
        )
        order_steps.run_settle(progress, first_run=True)
        order = Order.objects.get(id=order_id)
    else:
        with transaction.atomic():
            order = lock_confirmed(order_id, scope)
            # Payment first, then the reservation: the lock order of every writer here.
            if order.payment_id is not None:
                InProcessPayments().give_back(order.payment_id, key=f"cancel-{order_id}")
            if order.reservation_id is not None:
                InProcessStock().release(order.reservation_id)
            order.status = OrderStatus.CANCELLED
            order.cancel_reason = (
                CancelReason.CANCELLED_BY_STAFF if by_staff else CancelReason.CANCELLED_BY_CUSTOMER
            )
            save_order(order, timezone.now(), events.ORDER_CANCELLED)
    logger.info("order cancelled", extra={"order_id": str(order_id), "reason": order.cancel_reason})
    return order


def order_fulfil(*, order_id: uuid.UUID) -> Order:
    """A ``confirmed`` order is shipped: its reservation is committed (the stock leaves
    ``on_hand``) and the order becomes ``fulfilled``. Staff only: the API checks who asks."""
    if remote_ports():
        progress = order_steps.settle_start(
            kind=ProgressKind.FULFIL, order_id=order_id, scope=None, by_staff=True
        )
        order_steps.run_settle(progress, first_run=True)
        order = Order.objects.get(id=order_id)
    else:
        with transaction.atomic():
            order = lock_confirmed(order_id, None)
            if order.reservation_id is not None:
                InProcessStock().commit(order.reservation_id)
            order.status = OrderStatus.FULFILLED
            save_order(order, timezone.now(), events.ORDER_FULFILLED)
    logger.info("order fulfilled", extra={"order_id": str(order_id)})
    return order
