"""Checkout and cancel as persisted, orchestrated sagas (states in ``states.py``).

The monolith does a checkout in one database transaction. Here the stock lives in inventory and
the money in payments, so the checkout is a sequence of steps, and the saga row says, *before*
each step is taken, which step comes next and what the earlier ones left behind. Every step is
idempotent, so a step whose outcome was lost (a crash, a timeout) is simply taken again:

* reserve: the saga chooses the reservation's id; a repeat finds the reservation already there
  and reads it by that id (``clients/inventory.py``);
* charge: ``Idempotency-Key: checkout-<saga id>``; a repeat replays the first answer, so one
  payment, one charge (``clients/payments.py``);
* confirm: one local transaction writes the order, its outbox event, the idempotent answer and the
  saga's end together, compare-and-set on the saga's ``version`` (a second runner loses).

A failure compensates in reverse order (refund what was charged, release what was reserved). A
step whose outcome is unknown (sent, no answer) is first *resolved* by repeating it, which is
safe for the reasons above, and then undone. A compensation that fails is retried with backoff
by the recovery loop (``recovery.py``) until it succeeds; after ``stuck_after_attempts`` failures
the saga is flagged ``stuck`` (``/internal/sagas/stuck``, ``orders_sagas_stuck``) and still
retried.

Reverse sync (``direction.WRITES``): a saga is started only while the service takes the orders
writes (its first transaction takes the direction ``FOR SHARE``; 503 while frozen). Its later
writes of the order are *resumed* writes: not refused while frozen (the client's request was
taken before the freeze), and sent back to the monolith unless the service is ``forward``.
Sagas not ended are reported in flight (``selectors.sagas_in_flight``), so the switch back to
the monolith drains them before the monolith takes the orders writes.

The outcome a client sees is decided as early as it is known: a refused checkout stores its
``cancelled`` order (with the monolith's body) when the refusal comes, and the compensation that
follows changes nothing the client can see. An upstream that cannot be reached ends the checkout
with a 503 and no order at all, once whatever was done is undone.
"""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from contracts import events
from extracted.chassis.timefmt import utcnow
from extracted.chassis.web.unit_of_work import unit_of_work
from extracted.orders import idempotency, states
from extracted.orders.clients.inventory import InventoryClient, NotSettleable, Reserved
from extracted.orders.clients.payments import Charged, Declined, PaymentsClient
from extracted.orders.clients.upstream import CallContext, UpstreamUnavailable
from extracted.orders.config import OrdersSettings
from extracted.orders.crash import CrashPoints
from extracted.orders.metrics import OrdersMetrics
from extracted.orders.models import Order, OrderLine, Saga
from extracted.orders.outbox import record_order
from extracted.orders.wiring import WRITES

logger = logging.getLogger(__name__)


class SagaTakenOver(Exception):
    """Another runner changed the saga first (its ``version`` moved): this runner stops."""


class CompensationBlocked(Exception):
    """An upstream refuses an undo (e.g. inventory will not release a committed reservation)."""


@dataclass(frozen=True)
class PricedLine:
    sku: str
    quantity: int
    unit_price: Decimal
    line_total: Decimal

    def as_json(self) -> dict[str, Any]:
        return {
            "sku": self.sku,
            "quantity": self.quantity,
            "unit_price": f"{self.unit_price:.2f}",
            "line_total": f"{self.line_total:.2f}",
        }


def _order_lines(saga: Saga) -> list[OrderLine]:
    return [
        OrderLine(
            sku=line["sku"],
            quantity=line["quantity"],
            unit_price=Decimal(line["unit_price"]),
            line_total=Decimal(line["line_total"]),
        )
        for line in saga.lines
    ]


def payment_key(saga: Saga) -> str:
    return f"checkout-{saga.id}"


def refund_key(saga: Saga) -> str:
    return f"{saga.kind}-{saga.id}-refund"


#: What a decided checkout answers its client (the API layer's: ``extracted.orders.api.answers``),
#: stored with the decision for an ``Idempotency-Key`` replay: a status and a body.
CheckoutAnswer = Callable[[Saga, Order | None], tuple[int, dict[str, Any]] | None]


class SagaRunner:
    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        inventory: InventoryClient,
        payments: PaymentsClient,
        settings: OrdersSettings,
        metrics: OrdersMetrics,
        crash: CrashPoints,
        checkout_answer: CheckoutAnswer,
    ) -> None:
        self.sessions = sessions
        self.checkout_answer = checkout_answer
        self.inventory = inventory
        self.payments = payments
        self.settings = settings
        self.metrics = metrics
        self.crash = crash

    # -- starting ------------------------------------------------------------------------------

    def start_checkout(
        self,
        *,
        order_id: uuid.UUID,
        customer_id: uuid.UUID,
        lines: list[PricedLine],
        total: Decimal,
        card_token: str,
        trace_id: str,
        claim: idempotency.Claim | None,
    ) -> Saga:
        """Persist a new checkout saga (its first step comes next); with ``claim``, insert the
        idempotency record in the same transaction (``idempotency.KeyTaken`` if taken)."""
        now = utcnow()
        with unit_of_work(self.sessions) as session:
            WRITES.guard_write(session)  # 503 while frozen; a freeze waits for this to commit
            record_id = idempotency.insert(session, claim) if claim is not None else None
            saga = Saga(
                id=uuid.uuid4(),
                kind=states.CHECKOUT,
                order_id=order_id,
                customer_id=customer_id,
                state=states.RESERVING,
                terminal=False,
                version=1,
                lines=[line.as_json() for line in lines],
                total=total,
                card_token=card_token,
                reservation_id=uuid.uuid4(),
                reservation_outcome=states.NONE,
                payment_outcome=states.NONE,
                by_staff=False,
                idempotency_key_id=record_id,
                trace_id=trace_id,
                attempts=0,
                stuck=False,
                next_attempt_at=now,
                lease_until=now + timedelta(seconds=self.settings.saga_lease_s),
                created_at=now,
                updated_at=now,
            )
            session.add(saga)
        return saga

    def start_cancel(
        self, session: Session, order: Order, *, by_staff: bool, trace_id: str
    ) -> Saga:
        """Add a cancel saga for ``order`` (locked, ``confirmed``) to ``session``'s transaction
        (which took ``WRITES.guard_write`` first)."""
        now = utcnow()
        saga = Saga(
            id=uuid.uuid4(),
            kind=states.CANCEL,
            order_id=order.id,
            customer_id=order.customer_id,
            state=states.RELEASING,
            terminal=False,
            version=1,
            lines=[],
            total=order.total,
            card_token=None,
            reservation_id=order.reservation_id,
            reservation_outcome=states.HELD if order.reservation_id else states.NONE,
            payment_id=order.payment_id,
            payment_outcome=states.HELD if order.payment_id else states.NONE,
            by_staff=by_staff,
            trace_id=trace_id,
            attempts=0,
            stuck=False,
            next_attempt_at=now,
            lease_until=now + timedelta(seconds=self.settings.saga_lease_s),
            created_at=now,
            updated_at=now,
        )
        session.add(saga)
        return saga

    # -- running -------------------------------------------------------------------------------

    def load(self, saga_id: uuid.UUID) -> Saga:
        with self.sessions() as session:
            return session.get_one(Saga, saga_id)

    def claim(self, saga_id: uuid.UUID) -> bool:
        """Take a saga whose lease ran out (the recovery loop); ``False`` if another has it."""
        now = utcnow()
        with unit_of_work(self.sessions) as session:
            result = session.execute(
                update(Saga)
                .where(
                    Saga.id == saga_id,
                    Saga.terminal.is_(False),
                    (Saga.lease_until.is_(None)) | (Saga.lease_until < now),
                )
                .values(
                    version=Saga.version + 1,
                    lease_until=now + timedelta(seconds=self.settings.saga_lease_s),
                )
            )
            return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    def run(self, saga_id: uuid.UUID, *, request_id: str | None = None, first_run: bool) -> Saga:
        """Take steps until the saga ends or a step must wait for a retry; the saga as it is then.

        ``first_run``: this runner started the saga, so an upstream that was surely never reached
        (``sent=False``) proves the step was never taken. After a crash nothing proves that.
        """
        saga = self.load(saga_id)
        context = CallContext(
            request_id=request_id or f"saga-{saga_id.hex}", trace_id=saga.trace_id
        )
        steps: dict[str, Callable[[Saga, CallContext, bool], bool]] = {
            states.RESERVING: self._reserve,
            states.CHARGING: self._charge,
            states.COMPENSATING: self._compensate_checkout,
            states.RELEASING: self._release_for_cancel,
            states.REFUNDING: self._refund_for_cancel,
        }
        while not saga.terminal:
            try:
                progressed = steps[saga.state](saga, context, first_run)
            except SagaTakenOver:
                logger.info("saga taken over", extra={"saga_id": str(saga_id)})
                return self.load(saga_id)
            saga = self.load(saga_id)
            if not progressed:
                break
        return saga

    # -- state changes -------------------------------------------------------------------------

    def _advance(
        self,
        saga: Saga,
        *,
        also: Callable[[Session, Saga], None] | None = None,
        **changes: Any,
    ) -> Saga:
        """Compare-and-set the saga to ``changes`` (renewing the lease), running ``also`` in the
        same transaction; ``SagaTakenOver`` when another runner moved it first."""
        now = utcnow()
        values = {
            **changes,
            "version": saga.version + 1,
            "updated_at": now,
            "lease_until": now + timedelta(seconds=self.settings.saga_lease_s),
        }
        with unit_of_work(self.sessions) as session:
            result = session.execute(
                update(Saga)
                .where(Saga.id == saga.id, Saga.version == saga.version)
                .values(**values)
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                raise SagaTakenOver()
            fresh = session.get_one(Saga, saga.id, populate_existing=True)
            if also is not None:
                also(session, fresh)
        if fresh.terminal:
            self.metrics.outcomes.labels(kind=fresh.kind, outcome=fresh.state).inc()
            logger.info(
                "saga ended",
                extra={"saga_id": str(fresh.id), "kind": fresh.kind, "state": fresh.state},
            )
        return fresh

    def _attempt_failed(self, saga: Saga, error: str) -> None:
        """A step that must be retried failed: back off, count, flag as stuck after too many."""
        attempts = saga.attempts + 1
        delay = min(self.settings.retry_max_backoff_s, 0.2 * 2 ** min(attempts, 16))
        delay *= random.uniform(0.5, 1.0)  # jitter: sagas failing together retry apart
        stuck = attempts >= self.settings.stuck_after_attempts
        if stuck and not saga.stuck:
            logger.error(
                "saga stuck",
                extra={"saga_id": str(saga.id), "state": saga.state, "error": error},
            )
        now = utcnow()
        with unit_of_work(self.sessions) as session:
            result = session.execute(
                update(Saga)
                .where(Saga.id == saga.id, Saga.version == saga.version)
                .values(
                    attempts=attempts,
                    stuck=stuck,
                    last_error=error[:2000],
                    next_attempt_at=now + timedelta(seconds=delay),
                    lease_until=None,
                    version=saga.version + 1,
                    updated_at=now,
                )
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                raise SagaTakenOver()

    def _store_order(
        self, session: Session, saga: Saga, *, status: str, reason: str | None
    ) -> Order:
        WRITES.resume_write(session)
        now = utcnow()
        order = Order(
            id=saga.order_id,
            customer_id=saga.customer_id,
            status=status,
            cancel_reason=reason,
            total=saga.total,
            payment_id=saga.payment_id if status == states.ORDER_CONFIRMED else None,
            reservation_id=saga.reservation_id if status == states.ORDER_CONFIRMED else None,
            version=1,
            created_at=now,
            updated_at=now,
            lines=_order_lines(saga),
        )
        session.add(order)
        session.flush()
        record_order(session, order, events.ORDER_PLACED, now)
        return order

    def _decide_checkout(self, session: Session, saga: Saga, order: Order | None) -> None:
        """Store the idempotent answer of the checkout whose outcome was just decided."""
        if saga.idempotency_key_id is None:
            return
        answer = self.checkout_answer(saga, order)
        assert answer is not None
        idempotency.complete(session, saga.idempotency_key_id, *answer)

    def _fail_checkout(
        self, saga: Saga, failure: str, detail: dict[str, Any], **outcomes: str
    ) -> Saga:
        """The checkout cannot complete: decide its answer (storing the cancelled order unless an
        upstream was unavailable) and move to compensating, in one transaction."""

        def decide(session: Session, fresh: Saga) -> None:
            order = None
            if failure != states.UNAVAILABLE:
                order = self._store_order(
                    session, fresh, status=states.ORDER_CANCELLED, reason=failure
                )
            self._decide_checkout(session, fresh, order)

        return self._advance(
            saga,
            also=decide,
            state=states.COMPENSATING,
            failure=failure,
            failure_detail=detail,
            **outcomes,
        )

    # -- checkout steps ------------------------------------------------------------------------

    def _unreached(self, exc: UpstreamUnavailable, first_run: bool) -> str:
        """What a step that raised ``exc`` left behind: nothing only when provably never sent."""
        return states.NONE if first_run and not exc.sent else states.UNKNOWN

    def _reserve(self, saga: Saga, context: CallContext, first_run: bool) -> bool:
        assert saga.reservation_id is not None
        self.crash("before_reserve")
        try:
            outcome = self.inventory.reserve(
                reservation_id=saga.reservation_id,
                order_id=saga.order_id,
                lines=[(line["sku"], line["quantity"]) for line in saga.lines],
                context=context,
            )
        except UpstreamUnavailable as exc:
            self._fail_checkout(
                saga,
                states.UNAVAILABLE,
                {"upstream": "inventory", "reason": exc.reason},
                reservation_outcome=self._unreached(exc, first_run),
            )
            return True
        if isinstance(outcome, Reserved):
            self.crash("after_reserve")
            self._advance(saga, state=states.CHARGING, reservation_outcome=states.HELD)
        else:
            self._fail_checkout(saga, states.INSUFFICIENT_STOCK, {"shortages": outcome.shortages})
        return True

    def _charge(self, saga: Saga, context: CallContext, first_run: bool) -> bool:
        assert saga.card_token is not None
        try:
            outcome = self.payments.charge(
                key=payment_key(saga),
                customer_id=saga.customer_id,
                order_id=saga.order_id,
                amount=saga.total,
                card_token=saga.card_token,
                context=context,
            )
        except UpstreamUnavailable as exc:
            self._fail_checkout(
                saga,
                states.UNAVAILABLE,
                {"upstream": "payments", "reason": exc.reason},
                payment_outcome=self._unreached(exc, first_run),
            )
            return True
        if isinstance(outcome, Charged):
            self.crash("after_charge")
            payment_id = uuid.UUID(outcome.payment["id"])

            def confirm(session: Session, fresh: Saga) -> None:
                order = self._store_order(
                    session, fresh, status=states.ORDER_CONFIRMED, reason=None
                )
                self._decide_checkout(session, fresh, order)

            self._advance(
                saga,
                also=confirm,
                state=states.CONFIRMED,
                terminal=True,
                payment_id=payment_id,
                payment_outcome=states.HELD,
            )
            self.crash("after_confirm")
        elif isinstance(outcome, Declined):
            self._fail_checkout(saga, states.PAYMENT_DECLINED, {"reason": outcome.reason})
        else:
            self._fail_checkout(saga, states.PAYMENT_ERROR, {})
        return True

    def _compensate_checkout(self, saga: Saga, context: CallContext, first_run: bool) -> bool:
        """Undo in reverse order: the charge, then the reservation; each outcome persisted."""
        self.crash("before_compensate")
        try:
            if saga.payment_outcome == states.UNKNOWN:
                assert saga.card_token is not None
                resolved = self.payments.charge(
                    key=payment_key(saga),
                    customer_id=saga.customer_id,
                    order_id=saga.order_id,
                    amount=saga.total,
                    card_token=saga.card_token,
                    context=context,
                )
                if isinstance(resolved, Charged):
                    saga = self._advance(
                        saga,
                        payment_outcome=states.HELD,
                        payment_id=uuid.UUID(resolved.payment["id"]),
                    )
                else:
                    saga = self._advance(saga, payment_outcome=states.NONE)
            if saga.payment_outcome == states.HELD:
                assert saga.payment_id is not None
                self.payments.refund(saga.payment_id, key=refund_key(saga), context=context)
                saga = self._advance(saga, payment_outcome=states.REFUNDED)
            if saga.reservation_outcome == states.UNKNOWN:
                assert saga.reservation_id is not None
                found = self.inventory.reserve(
                    reservation_id=saga.reservation_id,
                    order_id=saga.order_id,
                    lines=[(line["sku"], line["quantity"]) for line in saga.lines],
                    context=context,
                )
                held = states.HELD if isinstance(found, Reserved) else states.NONE
                saga = self._advance(saga, reservation_outcome=held)
            if saga.reservation_outcome == states.HELD:
                assert saga.reservation_id is not None
                refused = self.inventory.release(saga.reservation_id, context=context)
                if isinstance(refused, NotSettleable):
                    raise CompensationBlocked(f"inventory: {refused.body}")
                self.crash("after_release")
                saga = self._advance(saga, reservation_outcome=states.RELEASED)
        except (UpstreamUnavailable, CompensationBlocked) as exc:
            self._attempt_failed(saga, str(exc))
            return False
        ended = states.ABORTED if saga.failure == states.UNAVAILABLE else states.CANCELLED
        self._advance(saga, state=ended, terminal=True, stuck=False)
        return True

    # -- cancel steps --------------------------------------------------------------------------

    def _release_for_cancel(self, saga: Saga, context: CallContext, first_run: bool) -> bool:
        if saga.reservation_id is not None:
            try:
                refused = self.inventory.release(saga.reservation_id, context=context)
            except UpstreamUnavailable as exc:
                if first_run and not exc.sent:  # nothing happened anywhere: give up cleanly
                    self._advance(
                        saga,
                        state=states.ABORTED,
                        terminal=True,
                        failure=states.UNAVAILABLE,
                        failure_detail={"upstream": "inventory", "reason": exc.reason},
                    )
                    return True
                self._attempt_failed(saga, str(exc))
                return False
            if refused is not None:
                self._advance(
                    saga, state=states.REFUSED, terminal=True, failure_detail=refused.body
                )
                return True
            self.crash("after_cancel_release")
        self._advance(saga, state=states.REFUNDING, reservation_outcome=states.RELEASED)
        return True

    def _refund_for_cancel(self, saga: Saga, context: CallContext, first_run: bool) -> bool:
        if saga.payment_id is not None:
            try:
                self.payments.refund(saga.payment_id, key=refund_key(saga), context=context)
            except UpstreamUnavailable as exc:
                self._attempt_failed(saga, str(exc))
                return False
            self.crash("after_refund")

        def cancel_order(session: Session, fresh: Saga) -> None:
            WRITES.resume_write(session)
            order = session.scalars(
                select(Order).where(Order.id == fresh.order_id).with_for_update()
            ).one()
            now = utcnow()
            order.status = states.ORDER_CANCELLED
            order.cancel_reason = (
                states.CANCELLED_BY_STAFF if fresh.by_staff else states.CANCELLED_BY_CUSTOMER
            )
            order.version += 1
            order.updated_at = now
            session.flush()
            record_order(session, order, events.ORDER_CANCELLED, now)

        self._advance(
            saga,
            also=cancel_order,
            state=states.CANCELLED,
            terminal=True,
            stuck=False,
            payment_outcome=states.REFUNDED if saga.payment_id else states.NONE,
        )
        return True
