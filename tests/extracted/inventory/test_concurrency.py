"""Races on real PostgreSQL with real threads and connections: the database decides, once."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from extracted.chassis.domain_errors import DomainError
from extracted.chassis.web.unit_of_work import unit_of_work
from extracted.inventory import services
from extracted.inventory.models import ProcessedEvent, Product, Reservation
from extracted.inventory.sync import apply_event
from tests.extracted.inventory.factories import envelope, product_state
from tests.support.random_refs import random_order_id, random_sku

T = TypeVar("T")
WORKERS = 8


def race(action: Callable[[], T], workers: int = WORKERS) -> list[T | BaseException]:
    """Run ``action`` in ``workers`` threads released together by a barrier."""
    barrier = threading.Barrier(workers)

    def run() -> T | BaseException:
        barrier.wait()
        try:
            return action()
        except BaseException as exc:  # collected and judged by the test
            return exc

    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda _: run(), range(workers)))


def test_the_same_event_from_many_workers_applies_once(sessions: sessionmaker[Session]) -> None:
    event = envelope(product_state(version=3, on_hand=9))
    outcomes = race(lambda: apply_event(event, sessions=sessions))
    assert Counter(outcomes) == Counter({"applied": 1, "duplicate": WORKERS - 1})
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(ProcessedEvent)) == 1
        row = session.get(Product, event["aggregate_id"])
    assert row is not None and (row.version, row.on_hand) == (3, 9)


def test_different_versions_racing_leave_the_newest(sessions: sessionmaker[Session]) -> None:
    sku = random_sku()
    events = [envelope(product_state(sku=sku, version=v, on_hand=v)) for v in range(1, WORKERS + 1)]
    queue = list(reversed(events))
    lock = threading.Lock()

    def apply_next() -> str:
        with lock:
            event = queue.pop()
        return apply_event(event, sessions=sessions)

    outcomes = race(apply_next)
    assert "applied" in outcomes and all(o in ("applied", "stale") for o in outcomes)
    with sessions() as session:
        row = session.get(Product, sku)
    assert row is not None and (row.version, row.on_hand) == (WORKERS, WORKERS)


def test_reservations_racing_for_the_last_unit(sessions: sessionmaker[Session]) -> None:
    sku = random_sku()
    with unit_of_work(sessions) as session:
        services.product_create(session, sku=sku, name="Last one", price=Decimal("1.00"), on_hand=1)

    def reserve() -> Any:
        with unit_of_work(sessions) as session:
            return services.reservation_create(
                session, order_id=uuid.UUID(random_order_id()), lines=[(sku, 1)]
            ).id

    outcomes = race(reserve)
    refusals = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(outcomes) - len(refusals) == 1
    assert all(isinstance(r, DomainError) and r.code == "insufficient_stock" for r in refusals), (
        refusals
    )
    with sessions() as session:
        product = session.get(Product, sku)
        reservations = session.scalar(select(func.count()).select_from(Reservation))
    assert product is not None and (product.on_hand, product.reserved, product.version) == (1, 1, 2)
    assert reservations == 1
