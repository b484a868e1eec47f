"""Orders backfill pages applied by the owner, as COPY text and as state dicts, on real PostgreSQL
(COPY into staging + one merge) and on SQLite (decoded, the plain upsert): which page is taken
(the checkpoint's compare-and-set), versions decide against what events brought, an order's lines
are replaced only when the order is written, a poison page changes nothing, and the stats endpoint
shows the checkpoints."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from extracted.chassis.web.db import make_engine, make_sessions
from extracted.orders import migrate
from extracted.orders.config import OrdersSettings
from extracted.orders.main import create_app
from extracted.orders.models import Order, OrderLine, Saga
from extracted.orders.sync import (
    BACKFILL,
    BatchResult,
    SyncInputError,
    apply_backfill_batch,
    apply_backfill_copy,
    apply_event,
    backfill_checkpoint,
)
from tests.extracted.asgi_client import BlockingASGIClient
from tests.extracted.backfill_pages import apply_page, as_copy, by_id, count, walk_two_pages
from tests.extracted.orders.test_sync import envelope, line, order_state
from tests.support.random_refs import random_sku, random_suffix


@pytest.fixture(params=["postgresql", "sqlite"])
def owner_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The orders database on PostgreSQL (the bulk path) and on SQLite (the plain upsert): the
    same page must do the same on both."""
    if request.param == "postgresql":
        return str(request.getfixturevalue("orders_url"))
    url = f"sqlite:///{tmp_path / 'orders.sqlite3'}"
    migrate.upgrade(url)
    return url


@pytest.fixture
def owner(owner_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(owner_url)
    yield make_sessions(engine)
    engine.dispose()


@pytest.fixture(params=["copy", "json"])
def apply(request: pytest.FixtureRequest) -> Callable[..., BatchResult]:
    """How a page travels: COPY text as the monolith's bulk reader writes it, or state dicts."""
    if request.param == "json":
        return apply_backfill_batch
    return as_copy(apply_backfill_copy, BACKFILL.merge)


def page(
    apply: Callable[..., BatchResult],
    sessions: sessionmaker[Session],
    job: str,
    rows: list[dict[str, Any]],
    **how: Any,
) -> BatchResult:
    return apply_page(apply, "order", sessions, job, rows, **how)


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


def test_a_page_is_taken_only_in_turn_and_written_with_its_children(
    owner: sessionmaker[Session], apply: Callable[..., BatchResult]
) -> None:
    job = f"orders-{random_suffix()}"
    rows = by_id([order_state() for _ in range(5)])
    walk_two_pages(apply, "order", owner, job, rows, backfill_checkpoint)
    assert [stored(owner, row["id"]) for row in rows] == [shown(row) for row in rows]
    assert (count(owner, OrderLine), count(owner, Saga)) == (10, 0)  # the monolith ran them


def test_versions_decide_and_lines_are_replaced_only_with_the_order(
    owner: sessionmaker[Session], apply: Callable[..., BatchResult]
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
    result = page(apply, owner, f"orders-{random_suffix()}", rows, after_key=None, done=True)
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
    "spoil",
    [
        lambda s: {**s, "total": "lots"},  # the database refuses it
        lambda s: {**s, "status": "cancelled"},  # a constraint: no cancel reason
        _twice,  # one line twice
        lambda s: {**s, "status": "lost"},  # the contract refuses it
    ],
)
def test_a_poison_page_is_refused_and_nothing_of_it_applied(
    owner: sessionmaker[Session], apply: Callable[..., BatchResult], spoil: Any
) -> None:
    job = f"orders-{random_suffix()}"
    opening = [order_state()]
    assert page(apply, owner, job, opening, after_key=None).taken
    before = backfill_checkpoint(job, sessions=owner)
    rows = by_id([order_state(), order_state()])
    rows[1] = spoil(rows[1])
    with pytest.raises(SyncInputError, match="invalid"):
        page(apply, owner, job, rows, after_key=opening[0]["id"], done=True)
    assert backfill_checkpoint(job, sessions=owner) == before
    assert (count(owner, Order), count(owner, OrderLine)) == (1, 2)


def test_a_page_of_another_aggregate_is_refused(owner: sessionmaker[Session]) -> None:
    with pytest.raises(SyncInputError, match="unknown aggregate_type 'payment'"):
        apply_page(
            apply_backfill_batch, "payment", owner, "orders", [order_state()], after_key=None
        )
    assert backfill_checkpoint("orders", sessions=owner) is None


def test_the_stats_show_the_checkpoint(owner_url: str, owner: sessionmaker[Session]) -> None:
    settings = OrdersSettings(orders_database_url=owner_url, migrate_on_start=False)
    client = BlockingASGIClient(create_app(settings, sessions=owner, recovery=False))
    try:
        assert client.get("/internal/sync/stats").json()["backfills"] == []
        rows = by_id([order_state(), order_state()])
        done = page(apply_backfill_batch, owner, "orders", rows, after_key=None, done=True)
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
