"""The orders service's reconciliation endpoints in process: an order's row is the canonical text
of its state, lines included, on PostgreSQL and SQLite alike; a line changed behind sync's back
shows in the field ``lines``; repair puts the source's order back (lines replaced) where the row
still holds the version reconciliation saw, leaves a row that moved on alone, deletes an extra
order with its lines; runs are recorded and shown by the sync stats."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from extracted.chassis.web.unit_of_work import unit_of_work
from extracted.orders import migrate
from extracted.orders.models import Order, OrderLine
from extracted.orders.reconcile import ORDER_OWNER
from extracted.orders.sync import apply_order_states
from protocol.reconcile_spec import ORDERS
from tests.extracted.asgi_client import BlockingASGIClient
from tests.extracted.orders.factories import line, order_state
from tests.extracted.reconcile_calls import (
    answers_on,
    canonical_rows,
    clean_report,
    post_repair,
    sqlite_sessions,
)
from tests.support.random_refs import random_sku


def seed(sessions: sessionmaker[Session], *states: dict[str, Any]) -> None:
    with unit_of_work(sessions) as session:
        assert apply_order_states(session, list(states)) == len(states)


def test_rows_are_the_canonical_text_of_each_state_on_postgresql_and_sqlite(
    internal: BlockingASGIClient, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    states = [
        order_state(),
        order_state(status="cancelled", cancel_reason="payment_declined", payment_id=None),
        order_state(lines=[line("b-zeta", 1, "0.10"), line("B-alpha", 3, "9999.99")]),
    ]
    seed(sessions, *states)
    rows = canonical_rows(internal, "orders")
    assert {key: row["text"] for key, row in rows.items()} == {
        s["id"]: ORDERS.canonical_state(s) for s in states
    }
    bounds = sorted(rows)[1:2]
    on_postgresql = answers_on(sessions, ORDER_OWNER, bounds)
    with sqlite_sessions(tmp_path / "orders.sqlite3", migrate.upgrade) as lite:
        seed(lite, *states)
        assert answers_on(lite, ORDER_OWNER, bounds) == on_postgresql


def test_a_line_changed_behind_syncs_back_is_repaired(
    internal: BlockingASGIClient, sessions: sessionmaker[Session]
) -> None:
    truth = order_state(version=4)
    seed(sessions, truth)
    changed = truth["lines"][0]["sku"]
    with sessions.begin() as session:
        session.execute(
            text("UPDATE order_lines SET quantity = quantity + 1 WHERE sku = :sku"),
            {"sku": changed},
        )
    [row] = canonical_rows(internal, "orders").values()
    theirs, ours = ORDERS.split(ORDERS.canonical_state(truth)), ORDERS.split(row["text"])
    assert [name for name in ORDERS.field_names if theirs[name] != ours[name]] == ["lines"]

    result = post_repair(internal, "orders", [truth], observed={truth["id"]: 4})
    assert result == {"written": 1, "deleted": 0, "skipped": 0}
    assert canonical_rows(internal, "orders")[truth["id"]]["text"] == ORDERS.canonical_state(truth)


def test_repair_overrides_only_the_state_it_saw_and_deletes_extra_orders(
    internal: BlockingASGIClient, sessions: sessionmaker[Session]
) -> None:
    corrupt, moved_on, stray = order_state(version=6), order_state(version=6), order_state()
    seed(sessions, corrupt, moved_on, stray)
    other_lines = [line(random_sku(), 5, "1.00")]
    truth = [
        {**corrupt, "lines": other_lines, "total": "5.00", "version": 2},
        {**moved_on, "lines": other_lines, "total": "5.00", "version": 2},
    ]
    result = post_repair(
        internal,
        "orders",
        truth,
        observed={corrupt["id"]: 6, moved_on["id"]: 5},
        extra={stray["id"]: 1},
    )
    assert result == {"written": 1, "deleted": 1, "skipped": 1}
    with sessions() as session:
        versions = {str(o.id): o.version for o in session.scalars(select(Order))}
        lines = {
            str(order_id): n
            for order_id, n in session.execute(
                select(OrderLine.order_id, func.count()).group_by(OrderLine.order_id)
            )
        }
    assert versions == {corrupt["id"]: 2, moved_on["id"]: 6}
    assert lines == {corrupt["id"]: 1, moved_on["id"]: len(moved_on["lines"])}
    assert stray["id"] not in lines


def test_runs_and_bad_requests(internal: BlockingASGIClient) -> None:
    assert internal.post(
        "/internal/reconcile/orders/runs", json=clean_report("orders", 2)
    ).is_success
    last = internal.get("/internal/sync/stats").json()["last_reconciliation"]
    assert (last["aggregate"], last["clean"]) == ("orders", True)
    for path, body, status in [
        ("payments/rows", {}, 404),
        ("orders/rows", {"hi": "SKU-1"}, 400),
        ("orders/repair", {"states": [order_state(status="lost")]}, 400),
    ]:
        answer = internal.post(f"/internal/reconcile/{path}", json=body)
        assert answer.status_code == status, (path, answer.text)
