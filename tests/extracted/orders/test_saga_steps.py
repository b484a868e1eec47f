"""The saga's logic on its own: step order, compensation in reverse, resuming after a crash,
retrying a compensation that fails. The runner (``extracted/orders/saga.py``) is the service's,
on its migrated PostgreSQL database (``sessions``); inventory and payments are the in-memory fakes
of ``fake_upstreams.py``, so no process is started. The same paths through real processes:
``test_checkout_saga.py`` and ``tests/faults/test_orders_crash.py``."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal

import pytest
from sqlalchemy.orm import Session, sessionmaker

from extracted.orders import states
from extracted.orders.api import answers
from extracted.orders.config import OrdersSettings
from extracted.orders.crash import POINTS, CrashPoints
from extracted.orders.metrics import OrdersMetrics
from extracted.orders.models import Order, Saga
from extracted.orders.saga import PricedLine, SagaRunner
from tests.extracted.orders.fake_upstreams import DECLINED_CARD, Calls, FakeInventory, FakePayments
from tests.support.random_refs import random_sku

RESERVE = ("inventory", "reserve")
RELEASE = ("inventory", "release")
CHARGE = ("payments", "charge")
REFUND = ("payments", "refund")


class Crashed(Exception):
    """The runner stopped dead at a crash point (the process's SIGKILL, in-process)."""


class CrashAt(CrashPoints):
    """``CrashPoints`` that raise ``Crashed`` instead of killing the test's process."""

    def __call__(self, point: str) -> None:
        assert point in POINTS, point
        if point == self.crash_at:
            raise Crashed(point)


@dataclass
class SagaRig:
    calls: Calls
    inventory: FakeInventory
    payments: FakePayments
    sessions: sessionmaker[Session]

    def runner(self, crash_at: str | None = None) -> SagaRunner:
        """A runner as the service builds one; a new one is a new process (after a crash)."""
        # By the environment's names: the settings take nothing else.
        settings = OrdersSettings.model_validate(
            {
                "ORDERS_SAGA_LEASE_S": -1,  # leases run out as they are taken: crashed sagas
                "ORDERS_STUCK_AFTER_ATTEMPTS": 2,  # are claimable at once
            }
        )
        return SagaRunner(
            sessions=self.sessions,
            inventory=self.inventory,
            payments=self.payments,
            settings=settings,
            metrics=OrdersMetrics(),
            crash=CrashAt(crash_at) if crash_at else CrashPoints(None),
            checkout_answer=answers.checkout_answer,
        )

    def checkout(
        self, runner: SagaRunner, lines: list[tuple[str, int]], card: str = "tok_visa"
    ) -> Saga:
        priced = [PricedLine(sku, q, Decimal("2.50"), Decimal("2.50") * q) for sku, q in lines]
        return runner.start_checkout(
            order_id=uuid.uuid4(),
            customer_id=uuid.uuid4(),
            lines=priced,
            total=sum((line.line_total for line in priced), Decimal(0)),
            card_token=card,
            trace_id="0" * 32,
            claim=None,
        )

    def order(self, saga: Saga) -> Order | None:
        with self.sessions() as session:
            return session.get(Order, saga.order_id)


@pytest.fixture
def sku() -> str:
    return random_sku()


@pytest.fixture
def saga(sessions: sessionmaker[Session], sku: str) -> SagaRig:
    calls = Calls()
    return SagaRig(calls, FakeInventory(calls, {sku: 5}), FakePayments(calls), sessions)


def test_a_checkout_reserves_then_charges_then_confirms_the_order(saga: SagaRig, sku: str) -> None:
    runner = saga.runner()
    started = saga.checkout(runner, [(sku, 2)])

    ended = runner.run(started.id, first_run=True)

    assert (ended.state, ended.terminal) == (states.CONFIRMED, True)
    assert saga.calls.made == [RESERVE, CHARGE]
    order = saga.order(ended)
    assert order is not None
    assert (order.status, order.payment_id, order.reservation_id) == (
        states.ORDER_CONFIRMED,
        ended.payment_id,
        ended.reservation_id,
    )
    assert saga.inventory.on_hand[sku] == 3
    assert len(saga.payments.captured()) == 1


def test_short_stock_cancels_the_order_without_charging(saga: SagaRig, sku: str) -> None:
    runner = saga.runner()
    started = saga.checkout(runner, [(sku, 6)])

    ended = runner.run(started.id, first_run=True)

    assert (ended.state, ended.failure) == (states.CANCELLED, states.INSUFFICIENT_STOCK)
    assert saga.calls.made == [RESERVE]
    order = saga.order(ended)
    assert order is not None
    assert (order.status, order.cancel_reason) == (
        states.ORDER_CANCELLED,
        states.INSUFFICIENT_STOCK,
    )


def test_a_declined_charge_releases_the_reservation(saga: SagaRig, sku: str) -> None:
    runner = saga.runner()
    started = saga.checkout(runner, [(sku, 2)], card=DECLINED_CARD)

    ended = runner.run(started.id, first_run=True)

    assert (ended.state, ended.failure) == (states.CANCELLED, states.PAYMENT_DECLINED)
    assert saga.calls.made == [RESERVE, CHARGE, RELEASE]
    assert (ended.reservation_outcome, ended.payment_outcome) == (states.RELEASED, states.NONE)
    assert saga.inventory.on_hand[sku] == 5


def test_a_charge_whose_answer_is_lost_is_resolved_then_undone_in_reverse_order(
    saga: SagaRig, sku: str
) -> None:
    saga.calls.fail_next("payments", "charge", sent=True)
    runner = saga.runner()
    started = saga.checkout(runner, [(sku, 2)])

    ended = runner.run(started.id, first_run=True)

    assert (ended.state, ended.failure) == (states.ABORTED, states.UNAVAILABLE)
    # The repeat finds the first charge by its key: one payment, refunded before the release.
    assert saga.calls.made == [RESERVE, CHARGE, CHARGE, REFUND, RELEASE]
    assert [p["status"] for p in saga.payments.by_key.values()] == ["refunded"]
    assert saga.inventory.on_hand[sku] == 5
    assert saga.order(ended) is None  # unavailable: the client gets a 503 and no order


def test_an_inventory_never_reached_on_the_first_run_needs_no_undo(saga: SagaRig, sku: str) -> None:
    saga.calls.fail_next("inventory", "reserve", sent=False)
    runner = saga.runner()
    started = saga.checkout(runner, [(sku, 2)])

    ended = runner.run(started.id, first_run=True)

    assert (ended.state, ended.reservation_outcome) == (states.ABORTED, states.NONE)
    assert saga.calls.made == [RESERVE]


@pytest.mark.parametrize(
    ("crash_at", "calls_before", "calls_after"),
    [
        ("after_reserve", [RESERVE], [RESERVE, CHARGE]),
        ("after_charge", [RESERVE, CHARGE], [CHARGE]),
    ],
)
def test_a_runner_after_a_crash_finishes_the_checkout_with_one_reservation_and_one_charge(
    saga: SagaRig,
    sku: str,
    crash_at: str,
    calls_before: list[tuple[str, str]],
    calls_after: list[tuple[str, str]],
) -> None:
    crashing = saga.runner(crash_at)
    started = saga.checkout(crashing, [(sku, 2)])
    with pytest.raises(Crashed):
        crashing.run(started.id, first_run=True)
    assert saga.calls.made == calls_before

    recovering = saga.runner()
    assert recovering.claim(started.id)
    ended = recovering.run(started.id, first_run=False)

    assert ended.state == states.CONFIRMED
    # The recovering runner repeats the step in flight (idempotent), never the ones before it.
    assert saga.calls.made == calls_before + calls_after
    assert saga.inventory.on_hand[sku] == 3
    assert len(saga.inventory.reservations) == 1
    assert len(saga.payments.captured()) == 1


def test_a_failing_compensation_is_retried_until_it_succeeds_and_flagged_stuck_meanwhile(
    saga: SagaRig, sku: str
) -> None:
    saga.calls.fail_next("inventory", "release", sent=False)
    saga.calls.fail_next("inventory", "release", sent=False)
    runner = saga.runner()
    started = saga.checkout(runner, [(sku, 2)], card=DECLINED_CARD)

    waiting = runner.run(started.id, first_run=True)
    assert (waiting.state, waiting.terminal, waiting.attempts) == (states.COMPENSATING, False, 1)
    waiting = runner.run(started.id, first_run=False)
    assert (waiting.attempts, waiting.stuck) == (2, True)
    ended = runner.run(started.id, first_run=False)

    assert (ended.state, ended.stuck) == (states.CANCELLED, False)
    assert saga.calls.made == [RESERVE, CHARGE, RELEASE, RELEASE, RELEASE]
    assert saga.inventory.on_hand[sku] == 5


def test_a_cancel_releases_then_refunds_and_cancels_the_order(saga: SagaRig, sku: str) -> None:
    runner = saga.runner()
    confirmed = runner.run(saga.checkout(runner, [(sku, 2)]).id, first_run=True)
    with saga.sessions() as session, session.begin():
        confirmed_order = session.get_one(Order, confirmed.order_id)
        cancel = runner.start_cancel(session, confirmed_order, by_staff=False, trace_id="0" * 32)
    saga.calls.made.clear()

    ended = runner.run(cancel.id, first_run=True)

    assert ended.state == states.CANCELLED
    assert saga.calls.made == [RELEASE, REFUND]
    order = saga.order(ended)
    assert order is not None
    assert (order.status, order.cancel_reason, order.version) == (
        states.ORDER_CANCELLED,
        states.CANCELLED_BY_CUSTOMER,
        2,
    )
    assert [p["status"] for p in saga.payments.by_key.values()] == ["refunded"]
