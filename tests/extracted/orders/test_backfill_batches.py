"""Orders backfill pages applied by the owner, on real PostgreSQL (COPY into staging + one merge)
and on SQLite (the plain upsert): which page is taken (the checkpoint's compare-and-set), versions
decide against what events brought, an order's lines are replaced only when the order is written,
a poison page changes nothing, and the stats endpoint shows the checkpoints."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from extracted.chassis.db import make_engine, make_sessions
from extracted.orders import migrate
from extracted.orders.config import OrdersSettings
from extracted.orders.main import create_app
from extracted.orders.models import Order, OrderLine, Saga
from extracted.orders.sync import (
    BatchResult,
    SyncInputError,
    apply_backfill_batch,
    apply_event,
    backfill_checkpoint,
)
from tests.extracted.asgi_client import BlockingASGIClient
from tests.extracted.orders.factories import envelope, line, order_state
from tests.support.random_refs import random_sku, random_suffix


@pytest.fixture(params=["postgresql", "sqlite"])
def owner_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The orders database on PostgreSQL (the bulk path) and on SQLite (the plain upsert): the
    same page must do the same on both."""
    if request.param == "postgresql":
        url: str = request.getfixturevalue("pg_url")
    else:
        url = f"sqlite:///{tmp_path / 'orders.sqlite3'}"
    migrate.upgrade(url)
    return url


@pytest.fixture
def owner(owner_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(owner_url)
    yield make_sessions(engine)
    engine.dispose()


def page(
    sessions: sessionmaker[Session],
    job: str,
    rows: list[dict[str, Any]],
    *,
    after_key: str | None,
    done: bool = False,
    restart: bool = False,
) -> BatchResult:
    """Apply ``rows`` as the keyset page after ``after_key`` (its last key: the last row's)."""
    return apply_backfill_batch(
        job=job,
        aggregate_type="order",
        rows=rows,
        after_key=after_key,
        last_key=rows[-1]["id"] if rows else after_key,
        done=done,
        restart=restart,
        sessions=sessions,
    )


def stored(sessions: sessionmaker[Session], order_id: str) -> tuple[Any, ...] | None:
    """(status, version, total, lines as sorted (sku, quantity, unit_price, line_total))."""
    with sessions() as session:
        order = session.get(Order, uuid.UUID(order_id))
        if order is None:
            return None
        lines = sorted(
            (ln.sku, ln.quantity, str(ln.unit_price), str(ln.line_total)) for ln in order.lines
        )
        return (order.status, order.version, str(order.total), lines)


def shown(state: dict[str, Any]) -> tuple[Any, ...]:
    lines = sorted(
        (ln["sku"], ln["quantity"], ln["unit_price"], ln["line_total"]) for ln in state["lines"]
    )
    return (state["status"], state["version"], state["total"], lines)


def count(sessions: sessionmaker[Session], model: Any) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def by_id(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda row: row["id"])


def test_a_page_is_taken_only_in_turn_and_a_restart_starts_the_rows_over(
    owner: sessionmaker[Session],
) -> None:
    job = f"orders-{random_suffix()}"
    rows = by_id([order_state() for _ in range(5)])
    first, second = rows[:3], rows[3:]

    taken = page(owner, job, first, after_key=None)
    assert (taken.taken, taken.written) == (True, 3)
    assert (taken.checkpoint.last_key, taken.checkpoint.rows) == (first[-1]["id"], 3)
    assert backfill_checkpoint(job, sessions=owner) == taken.checkpoint
    # A copy of the first page (an older run's, still in flight): dropped, nothing changes.
    again = page(owner, job, first, after_key=None)
    assert (again.taken, again.written, again.checkpoint) == (False, 0, taken.checkpoint)

    last = page(owner, job, second, after_key=first[-1]["id"], done=True)
    assert (last.taken, last.written, last.checkpoint.rows, last.checkpoint.done) == (
        True,
        2,
        5,
        True,
    )
    assert [stored(owner, row["id"]) for row in rows] == [shown(row) for row in rows]
    assert (count(owner, OrderLine), count(owner, Saga)) == (10, 0)  # the monolith ran them
    assert not page(owner, job, second, after_key=first[-1]["id"]).taken  # after the end

    restarted = page(owner, job, first, after_key=None, restart=True)
    assert restarted.taken and restarted.written == 0  # the rows are there at those versions
    assert (restarted.checkpoint.rows, restarted.checkpoint.done) == (3, False)


def test_versions_decide_and_lines_are_replaced_only_with_the_order(
    owner: sessionmaker[Session],
) -> None:
    # Brought further by a live event than the page's (older) copy: kept, lines included.
    ahead = order_state(version=3, status="cancelled", cancel_reason="by_customer")
    assert apply_event(envelope(ahead), sessions=owner) == "applied"
    older = {**ahead, "version": 2, "status": "confirmed", "cancel_reason": None}
    older["lines"] = [line(random_sku(), 9, "1.00")]
    # Behind the page: replaced, its lines becoming exactly the page's (one kept, one changed,
    # one gone, one new).
    behind = order_state()
    assert apply_event(envelope(behind), sessions=owner) == "applied"
    kept, changed = behind["lines"]
    newer = {**behind, "version": 2, "total": "20.50"}
    newer["lines"] = [kept, line(changed["sku"], 3, "2.50"), line(random_sku(), 1, "8.00")]

    rows = by_id([older, newer, order_state()])
    result = page(owner, f"orders-{random_suffix()}", rows, after_key=None, done=True)
    assert (result.taken, result.written, result.checkpoint.rows) == (True, 2, 3)
    assert stored(owner, ahead["id"]) == shown(ahead)
    assert stored(owner, newer["id"]) == shown(newer)
    assert count(owner, OrderLine) == 2 + 3 + 2
    # An event newer than the backfilled row still applies after it.
    later = {**newer, "version": 3, "status": "fulfilled"}
    assert apply_event(envelope(later), sessions=owner) == "applied"
    assert stored(owner, newer["id"]) == shown(later)


def _twice(state: dict[str, Any]) -> dict[str, Any]:
    """The same sku on two lines of one order (the monolith merges them; a page never has it)."""
    first = state["lines"][0]
    return {**state, "lines": [first, {**first, "quantity": 4}]}


@pytest.mark.parametrize(
    ("aggregate_type", "spoil"),
    [
        ("order", lambda s: {**s, "total": "lots"}),  # the database refuses it
        ("order", lambda s: {**s, "status": "cancelled"}),  # a constraint: no cancel reason
        ("order", _twice),  # one line twice
        ("order", lambda s: {**s, "status": "lost"}),  # the contract refuses it
        ("payment", lambda s: s),  # not an aggregate of this service
    ],
)
def test_a_poison_page_is_refused_and_nothing_of_it_applied(
    owner: sessionmaker[Session], aggregate_type: str, spoil: Any
) -> None:
    job = f"orders-{random_suffix()}"
    opening = [order_state()]
    assert page(owner, job, opening, after_key=None).taken
    before = backfill_checkpoint(job, sessions=owner)
    rows = by_id([order_state(), order_state()])
    rows[1] = spoil(rows[1])
    with pytest.raises(SyncInputError):
        apply_backfill_batch(
            job=job,
            aggregate_type=aggregate_type,
            rows=rows,
            after_key=opening[0]["id"],
            last_key=rows[-1]["id"],
            done=True,
            sessions=owner,
        )
    assert backfill_checkpoint(job, sessions=owner) == before
    assert (count(owner, Order), count(owner, OrderLine)) == (1, 2)


def test_the_stats_show_the_checkpoint(owner_url: str, owner: sessionmaker[Session]) -> None:
    settings = OrdersSettings(orders_database_url=owner_url, migrate_on_start=False)
    client = BlockingASGIClient(create_app(settings, sessions=owner, recovery=False))
    try:
        assert client.get("/internal/sync/stats").json()["backfills"] == []
        rows = by_id([order_state(), order_state()])
        done = page(owner, "orders", rows, after_key=None, done=True)
        (entry,) = client.get("/internal/sync/stats").json()["backfills"]
    finally:
        client.close()
    assert entry == {
        "job": "orders",
        "last_key": rows[-1]["id"],
        "rows": 2,
        "done": True,
        "updated_at": done.checkpoint.updated_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "parent": None,
        "end_key": None,
        "ranges": 0,
    }
