"""Checkout, cancel and fulfil as steps, once a port is remote (branch by abstraction,
docs/branch-by-abstraction.md).

While every port is in process a write is one local transaction (``services.py``). Once the
stock or the money is reached over HTTP there is no transaction around both, so the write runs
as steps over a durable record (``models.OrderProgress``), and the record says *before* each
call what is about to be asked, so a process killed at any step leaves enough behind to finish
or undo it:

* checkout: reserve (the reservation's id is chosen here), then charge (``Idempotency-Key:
  checkout-<order id>-charge``), then store the confirmed order and end the record in one local
  transaction. A refusal (short of stock, declined, gateway error) stores the cancelled order
  when it comes, then **compensates**: gives the charge back (refund, or void a hold) and
  releases the reservation. An owner that cannot be reached compensates too, and the client is
  told 503 with no order at all.
* cancel: release the reservation, then give the payment back, then the order is cancelled;
  fulfil: commit the reservation, then the order is fulfilled.

A step whose outcome is unknown (asked, no answer) is resolved by asking again: every call is
idempotent (``ports.py``). Each call picks its adapter from the capability's direction *then*
(``port_choice.py``): a switch between two steps is followed, and the new owner holds what the
old one did, because the switch drains before it flips.

``order_recovery.py`` takes the records whose runner died (lease run out): a checkout that had
not stored its order is compensated (its client never got an answer), anything else is taken on
to its end. Every change of the record is compare-and-set on ``version``, so a slow runner and
the recovery never both act.
"""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from rest_framework.renderers import JSONRenderer

from contracts import events
from monolith.errors import ApplicationError
from monolith.idempotency.models import IdempotencyRecord
from monolith.inventory.errors import Shortage
from monolith.orders.crash import crash_point
from monolith.orders.errors import OrderBusy
from monolith.orders.models import (
    CancelReason,
    Order,
    OrderLine,
    OrderProgress,
    OrderStatus,
    ProgressKind,
    ProgressState,
    StepOutcome,
)
from monolith.orders.order_rows import (
    CheckoutResult,
    lock_confirmed,
    priced_lines,
    record_order_event,
    save_order,
)
from monolith.orders.port_choice import payment_port, stock_port
from monolith.orders.ports import (
    Charged,
    Declined,
    OwnerRefused,
    OwnerUnavailable,
    Reserved,
)
from monolith.reverse_sync.direction import require_resumable, require_writable
from monolith.reverse_sync.errors import CapabilityFrozen

logger = logging.getLogger(__name__)

#: The checkout's failure when an owner could not be reached: no order is stored.
UNAVAILABLE = "unavailable"

#: Answers an ``Idempotency-Key`` keeps for a decided checkout: (status, body).
Answer = tuple[int, dict[str, Any]]


class TakenOver(Exception):
    """The record changed under this runner (another runner, or the recovery, moved it)."""


def charge_key(progress: OrderProgress) -> str:
    return f"checkout-{progress.order_id}-charge"


def give_back_key(progress: OrderProgress) -> str:
    return f"{progress.kind}-{progress.order_id}-give-back"


def proposed_payment_id(order_id: uuid.UUID) -> uuid.UUID:
    """The id an in-process charge gives its payment (the same on every try of the step)."""
    return uuid.uuid5(order_id, "payment")


def _refuse_inside_transaction(capability: str) -> None:
    """Steps must each commit before the next call: they cannot run inside a caller's
    transaction (a dry run, or a checkout that began while every port was in process and met a
    switch). 503: the client retries, and the retry runs as steps."""
    if connection.in_atomic_block:
        raise CapabilityFrozen(capability, "frozen")


# -- the record ---------------------------------------------------------------------------------


def lease() -> timedelta:
    """How long a runner holds a record before the recovery may take it."""
    return timedelta(seconds=settings.ORDERS_PROGRESS_LEASE_S)


def advance(progress: OrderProgress, **changes: Any) -> OrderProgress:
    """Compare-and-set ``changes`` on the record (renewing the lease); ``TakenOver`` when it
    moved since ``progress`` was read."""
    now = timezone.now()
    values = {**changes, "version": progress.version + 1, "updated_at": now}
    if not values.get("finished"):
        values["lease_until"] = now + lease()
    updated = OrderProgress.objects.filter(
        id=progress.id, version=progress.version, finished=False
    ).update(**values)
    if updated != 1:
        raise TakenOver(str(progress.id))
    return OrderProgress.objects.get(id=progress.id)


def _locked(progress: OrderProgress) -> None:
    """Inside a transaction: lock the record at ``progress.version`` (``TakenOver`` if moved)."""
    found = (
        OrderProgress.objects.select_for_update()
        .filter(id=progress.id, version=progress.version, finished=False)
        .exists()
    )
    if not found:
        raise TakenOver(str(progress.id))


def _attempt_failed(progress: OrderProgress, error: str) -> OrderProgress:
    """A step that must be taken again failed: back off (the recovery pass retries it)."""
    attempts = progress.attempts + 1
    delay = min(30.0, 0.2 * 2 ** min(attempts, 8)) * random.uniform(0.5, 1.0)
    now = timezone.now()
    updated = OrderProgress.objects.filter(
        id=progress.id, version=progress.version, finished=False
    ).update(
        attempts=attempts,
        last_error=error[:2000],
        next_attempt_at=now + timedelta(seconds=delay),
        lease_until=None,
        version=progress.version + 1,
        updated_at=now,
    )
    if updated != 1:
        raise TakenOver(str(progress.id))
    logger.warning(
        "order step failed, retried later",
        extra={"order_id": str(progress.order_id), "kind": progress.kind, "error": error},
    )
    return OrderProgress.objects.get(id=progress.id)


def _keep_answer(progress: OrderProgress, answer: Answer | None) -> None:
    """Store a decided checkout's answer on the client's ``Idempotency-Key`` record."""
    if progress.idempotency_record_id is None or answer is None:
        return
    status, body = answer
    IdempotencyRecord.objects.filter(id=progress.idempotency_record_id).update(
        status_code=status, response_body=JSONRenderer().render(body).decode()
    )


# -- checkout -----------------------------------------------------------------------------------


#: What the API answers for a decided checkout (the view's own rendering), kept on the client's
#: ``Idempotency-Key`` in the transaction that decides it; ``None``: nothing to keep.
CheckoutAnswer = Callable[[CheckoutResult], Answer | None]


def no_answer(result: CheckoutResult) -> Answer | None:
    return None


def checkout_start(
    *,
    order_id: uuid.UUID,
    customer_id: uuid.UUID,
    wanted: dict[str, int],
    first_index: dict[str, int],
    card_token: str,
    idempotency_record_id: uuid.UUID | None,
) -> OrderProgress:
    """Price the lines and write the checkout's record (its first step, reserving, comes next),
    in one transaction that takes the orders' direction."""
    _refuse_inside_transaction("orders")
    now = timezone.now()
    with transaction.atomic():
        require_writable("orders")
        lines = priced_lines(wanted, first_index, lock=False)
        total = sum((line.line_total for line in lines), Decimal("0.00"))
        return OrderProgress.objects.create(
            kind=ProgressKind.CHECKOUT,
            order_id=order_id,
            state=ProgressState.RESERVING,
            customer_id=customer_id,
            lines=[
                {
                    "sku": line.sku,
                    "quantity": line.quantity,
                    "unit_price": str(line.unit_price),
                    "line_total": str(line.line_total),
                }
                for line in lines
            ],
            total=total,
            card_token=card_token,
            reservation_id=uuid.uuid4(),
            idempotency_record_id=idempotency_record_id,
            next_attempt_at=now,
            lease_until=now + lease(),
            created_at=now,
            updated_at=now,
        )


def _wanted(progress: OrderProgress) -> list[tuple[str, int]]:
    return [(line["sku"], int(line["quantity"])) for line in progress.lines]


def _store_order(
    progress: OrderProgress, *, status: str, reason: str | None, payment_id: uuid.UUID | None
) -> Order:
    require_resumable("orders")
    now = timezone.now()
    confirmed = status == OrderStatus.CONFIRMED
    order = Order.objects.create(
        id=progress.order_id,
        customer_id=progress.customer_id,
        status=status,
        cancel_reason=reason,
        total=progress.total,
        payment_id=payment_id if confirmed else None,
        reservation_id=progress.reservation_id if confirmed else None,
        version=1,
        created_at=now,
        updated_at=now,
    )
    OrderLine.objects.bulk_create(
        [
            OrderLine(
                order=order,
                sku=line["sku"],
                quantity=line["quantity"],
                unit_price=Decimal(line["unit_price"]),
                line_total=Decimal(line["line_total"]),
            )
            for line in progress.lines
        ]
    )
    record_order_event(order, events.ORDER_PLACED)
    return order


def _result(progress: OrderProgress, order: Order) -> CheckoutResult:
    detail = progress.failure_detail or {}
    return CheckoutResult(
        order=order,
        shortages=[Shortage(**s) for s in detail.get("shortages", [])],
        decline_reason=detail.get("reason"),
    )


def _refuse_checkout(
    progress: OrderProgress,
    reason: str,
    detail: dict[str, Any],
    answer: CheckoutAnswer,
    **outcomes: str,
) -> OrderProgress:
    """The checkout is refused: store its cancelled order (and the client's answer) and move to
    compensating, in one transaction."""
    with transaction.atomic():
        _locked(progress)
        progress = advance(
            progress,
            state=ProgressState.COMPENSATING,
            failure=reason,
            failure_detail=detail,
            **outcomes,
        )
        order = _store_order(progress, status=OrderStatus.CANCELLED, reason=reason, payment_id=None)
        _keep_answer(progress, answer(_result(progress, order)))
    return progress


def _unreached(exc: OwnerUnavailable, first_run: bool) -> str:
    """What a call that raised ``exc`` left: nothing only when it surely was never sent."""
    return StepOutcome.NONE if first_run and not exc.sent else StepOutcome.MAYBE


def _owner_unavailable(
    progress: OrderProgress, capability: str, reason: str, **outcomes: Any
) -> OrderProgress:
    """The checkout cannot go on because ``capability``'s owner cannot be reached or is frozen:
    compensate what it holds (``outcomes``: what the failed step left)."""
    return advance(
        progress,
        state=ProgressState.COMPENSATING,
        failure=UNAVAILABLE,
        failure_detail={"capability": capability, "reason": reason},
        **outcomes,
    )


def _reserve(progress: OrderProgress, answer: CheckoutAnswer, first_run: bool) -> OrderProgress:
    crash_point("before_reserve")
    assert progress.reservation_id is not None
    try:
        port = stock_port()
    except CapabilityFrozen as exc:
        return _owner_unavailable(progress, "inventory", exc.detail)
    progress = advance(progress, reservation=StepOutcome.MAYBE)
    assert progress.reservation_id is not None
    try:
        outcome = port.reserve(
            reservation_id=progress.reservation_id,
            order_id=progress.order_id,
            lines=_wanted(progress),
        )
    except OwnerUnavailable as exc:
        return _owner_unavailable(
            progress,
            "inventory",
            exc.reason,
            reservation=_unreached(exc, first_run),
        )
    except CapabilityFrozen as exc:  # in process, frozen mid-call: nothing was written
        return _owner_unavailable(progress, "inventory", exc.detail, reservation=StepOutcome.NONE)
    if isinstance(outcome, Reserved):
        crash_point("after_reserve")
        return advance(progress, state=ProgressState.CHARGING, reservation=StepOutcome.HELD)
    shortages = [
        {"sku": s.sku, "requested": s.requested, "available": s.available}
        for s in outcome.shortages
    ]
    return _refuse_checkout(
        progress,
        CancelReason.INSUFFICIENT_STOCK,
        {"shortages": shortages},
        answer,
        reservation=StepOutcome.NONE,
    )


def _charge(progress: OrderProgress, answer: CheckoutAnswer, first_run: bool) -> OrderProgress:
    assert progress.card_token is not None
    try:
        port = payment_port()
    except CapabilityFrozen as exc:
        return _owner_unavailable(progress, "payments", exc.detail)
    progress = advance(progress, payment=StepOutcome.MAYBE)
    assert progress.card_token is not None
    try:
        outcome = port.charge(
            key=charge_key(progress),
            payment_id=proposed_payment_id(progress.order_id),
            customer_id=progress.customer_id,
            order_id=progress.order_id,
            amount=progress.total,
            card_token=progress.card_token,
        )
    except OwnerUnavailable as exc:
        return _owner_unavailable(
            progress,
            "payments",
            exc.reason,
            payment=_unreached(exc, first_run),
        )
    except CapabilityFrozen as exc:
        return _owner_unavailable(progress, "payments", exc.detail, payment=StepOutcome.NONE)
    if isinstance(outcome, Charged):
        crash_point("after_charge")
        try:
            progress = _confirm(progress, outcome.payment_id, answer)
        except CapabilityFrozen as exc:  # the orders switched meanwhile: undo, answer 503
            return _owner_unavailable(
                progress,
                "orders",
                exc.detail,
                payment=StepOutcome.HELD,
                payment_id=outcome.payment_id,
            )
        crash_point("after_confirm")
        return progress
    if isinstance(outcome, Declined):
        reason, detail = CancelReason.PAYMENT_DECLINED, {"reason": outcome.reason}
    else:
        reason, detail = CancelReason.PAYMENT_ERROR, {}
    return _refuse_checkout(progress, reason, detail, answer, payment=StepOutcome.NONE)


def _confirm(
    progress: OrderProgress, payment_id: uuid.UUID, answer: CheckoutAnswer
) -> OrderProgress:
    """Store the confirmed order and end the record (and keep the client's answer) at once."""
    with transaction.atomic():
        _locked(progress)
        order = _store_order(
            progress, status=OrderStatus.CONFIRMED, reason=None, payment_id=payment_id
        )
        progress = advance(
            progress,
            state=ProgressState.DONE,
            finished=True,
            lease_until=None,
            payment=StepOutcome.HELD,
            payment_id=payment_id,
            card_token=None,
        )
        _keep_answer(progress, answer(CheckoutResult(order=order)))
    return progress


def _compensate(progress: OrderProgress) -> OrderProgress:
    """Undo in reverse order: the charge, then the reservation; each outcome recorded. A step
    whose outcome is unknown is first taken again (idempotent) to learn it."""
    crash_point("before_compensate")
    try:
        if progress.payment == StepOutcome.MAYBE:
            assert progress.card_token is not None
            found = payment_port().charge(
                key=charge_key(progress),
                payment_id=proposed_payment_id(progress.order_id),
                customer_id=progress.customer_id,
                order_id=progress.order_id,
                amount=progress.total,
                card_token=progress.card_token,
            )
            if isinstance(found, Charged):
                progress = advance(progress, payment=StepOutcome.HELD, payment_id=found.payment_id)
            else:
                progress = advance(progress, payment=StepOutcome.NONE)
        if progress.payment == StepOutcome.HELD:
            assert progress.payment_id is not None
            payment_port().give_back(progress.payment_id, key=give_back_key(progress))
            progress = advance(progress, payment=StepOutcome.UNDONE)
        if progress.reservation == StepOutcome.MAYBE:
            assert progress.reservation_id is not None
            held = stock_port().reserve(
                reservation_id=progress.reservation_id,
                order_id=progress.order_id,
                lines=_wanted(progress),
            )
            outcome = StepOutcome.HELD if isinstance(held, Reserved) else StepOutcome.NONE
            progress = advance(progress, reservation=outcome)
        if progress.reservation == StepOutcome.HELD:
            assert progress.reservation_id is not None
            stock_port().release(progress.reservation_id)
            crash_point("after_release")
            progress = advance(progress, reservation=StepOutcome.UNDONE)
    except (OwnerUnavailable, OwnerRefused, CapabilityFrozen) as exc:
        return _attempt_failed(progress, str(exc))
    with transaction.atomic():
        _locked(progress)
        if progress.failure == UNAVAILABLE and progress.idempotency_record_id is not None:
            # No order was stored: the key is free again for the client's retry.
            IdempotencyRecord.objects.filter(
                id=progress.idempotency_record_id, status_code__isnull=True
            ).delete()
        return advance(
            progress, state=ProgressState.DONE, finished=True, lease_until=None, card_token=None
        )


def run_checkout(
    progress: OrderProgress, answer: CheckoutAnswer, *, first_run: bool
) -> OrderProgress:
    """Take the checkout's steps until it ends or must wait for a retry (the record then)."""
    while not progress.finished:
        if progress.state == ProgressState.RESERVING:
            progress = _reserve(progress, answer, first_run)
        elif progress.state == ProgressState.CHARGING:
            progress = _charge(progress, answer, first_run)
        elif progress.state == ProgressState.COMPENSATING:
            progress = _compensate(progress)
            if not progress.finished:
                break  # waits for its retry (the recovery pass takes it)
        else:
            raise AssertionError(f"checkout in state {progress.state}")
    return progress


def checkout_outcome(progress: OrderProgress) -> CheckoutResult:
    """What the client is told once the steps returned: the order stored (confirmed, or
    cancelled with its reason), or 503 when an owner could not be reached (no order)."""
    order = Order.objects.filter(id=progress.order_id).first()
    if order is None:
        detail = progress.failure_detail or {}
        raise OwnerUnavailable(
            str(detail.get("capability", "an owner")),
            str(detail.get("reason", "no answer")),
            sent=True,
        )
    return _result(progress, order)


# -- cancel and fulfil --------------------------------------------------------------------------


def settle_start(
    *, kind: str, order_id: uuid.UUID, scope: uuid.UUID | None, by_staff: bool
) -> OrderProgress:
    """Lock the confirmed order and write the record of its cancel or fulfil."""
    _refuse_inside_transaction("orders")
    now = timezone.now()
    with transaction.atomic():
        order = lock_confirmed(order_id, scope)
        if OrderProgress.objects.filter(order_id=order_id, finished=False).exists():
            raise OrderBusy()
        return OrderProgress.objects.create(
            kind=kind,
            order_id=order_id,
            state=ProgressState.SETTLING,
            customer_id=order.customer_id,
            total=order.total,
            by_staff=by_staff,
            reservation_id=order.reservation_id,
            reservation=StepOutcome.HELD if order.reservation_id else StepOutcome.NONE,
            payment_id=order.payment_id,
            payment=StepOutcome.HELD if order.payment_id else StepOutcome.NONE,
            next_attempt_at=now,
            lease_until=now + lease(),
            created_at=now,
            updated_at=now,
        )


def _settle_order(progress: OrderProgress) -> OrderProgress:
    """The last step: the order is cancelled or fulfilled, and the record ends, at once."""
    with transaction.atomic():
        _locked(progress)
        require_resumable("orders")
        order = Order.objects.select_for_update().get(id=progress.order_id)
        if progress.kind == ProgressKind.CANCEL:
            order.status = OrderStatus.CANCELLED
            order.cancel_reason = (
                CancelReason.CANCELLED_BY_STAFF
                if progress.by_staff
                else CancelReason.CANCELLED_BY_CUSTOMER
            )
            event = events.ORDER_CANCELLED
        else:
            order.status = OrderStatus.FULFILLED
            event = events.ORDER_FULFILLED
        save_order(order, timezone.now(), event)
        return advance(progress, state=ProgressState.DONE, finished=True, lease_until=None)


def _refused(progress: OrderProgress, exc: ApplicationError) -> OrderProgress:
    """An owner refuses the first step (e.g. the stock was shipped): nothing changed; end."""
    return advance(
        progress,
        state=ProgressState.DONE,
        finished=True,
        lease_until=None,
        failure="refused",
        failure_detail={"detail": exc.detail, **exc.extra()},
    )


def run_settle(progress: OrderProgress, *, first_run: bool) -> OrderProgress:
    """Cancel: release, give back, cancel the order. Fulfil: commit, fulfil the order. A
    refusal of the first step ends it with nothing changed (and is raised on the first run);
    an owner down before anything changed ends it too on the first run; otherwise a failed
    step waits for its retry by the recovery pass."""
    cancel = progress.kind == ProgressKind.CANCEL
    try:
        if progress.reservation == StepOutcome.HELD:
            assert progress.reservation_id is not None
            try:
                if cancel:
                    stock_port().release(progress.reservation_id)
                    crash_point("after_cancel_release")
                else:
                    stock_port().commit(progress.reservation_id)
                    crash_point("after_commit")
            except (OwnerUnavailable, CapabilityFrozen):
                raise
            except ApplicationError as exc:  # OwnerRefused, or the in-process invalid_state
                progress = _refused(progress, exc)
                if first_run:
                    raise
                return progress
            progress = advance(progress, reservation=StepOutcome.UNDONE)
        if cancel and progress.payment == StepOutcome.HELD:
            assert progress.payment_id is not None
            payment_port().give_back(progress.payment_id, key=give_back_key(progress))
            crash_point("after_refund")
            progress = advance(progress, payment=StepOutcome.UNDONE)
        return _settle_order(progress)
    except (OwnerUnavailable, CapabilityFrozen) as exc:
        nothing_done = progress.reservation != StepOutcome.UNDONE and (
            progress.payment != StepOutcome.UNDONE
        )
        unsent = not isinstance(exc, OwnerUnavailable) or not exc.sent
        if first_run and nothing_done and unsent:
            advance(
                progress,
                state=ProgressState.DONE,
                finished=True,
                lease_until=None,
                failure=UNAVAILABLE,
            )
            raise
        progress = _attempt_failed(progress, str(exc))
        if first_run:
            raise
        return progress
    except OwnerRefused as exc:  # the give-back refused after the release: retried later
        return _attempt_failed(progress, str(exc))


def settle_outcome(progress: OrderProgress) -> Order:
    return Order.objects.get(id=progress.order_id)


def run(progress: OrderProgress, *, first_run: bool) -> OrderProgress:
    """Take any record on (the recovery pass)."""
    if progress.kind == ProgressKind.CHECKOUT:
        if progress.state in (ProgressState.RESERVING, ProgressState.CHARGING):
            # Its runner died before the order was stored: the client never got an answer.
            progress = advance(
                progress,
                state=ProgressState.COMPENSATING,
                failure=UNAVAILABLE,
                failure_detail={"capability": "orders", "reason": "the checkout was interrupted"},
            )
        return run_checkout(progress, no_answer, first_run=first_run)
    return run_settle(progress, first_run=first_run)
