"""The payments service's reconciliation endpoints in process: a payment's row is the canonical
text of its state, refunds included, on PostgreSQL and SQLite alike; a refund changed behind
sync's back shows in the field ``refunds``; repair puts the source's payment back (refunds
replaced) only where the row still holds the version reconciliation saw or the source is newer,
deletes an extra payment with its refunds, and leaves a row that moved on alone; runs are
recorded and shown by the sync stats."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from extracted.chassis.web.unit_of_work import unit_of_work
from extracted.payments import migrate
from extracted.payments.backfill import apply_payment_states
from extracted.payments.models import Payment, Refund
from extracted.payments.reconcile import PAYMENT_OWNER
from monolith.identity.models import User
from protocol.reconcile_spec import PAYMENTS
from tests.extracted.asgi_client import BlockingASGIClient
from tests.extracted.payments.conftest import bearer
from tests.extracted.payments.factories import payment_state
from tests.extracted.reconcile_calls import (
    answers_on,
    canonical_rows,
    clean_report,
    post_repair,
    sqlite_sessions,
)
from tests.support.payments_api import payment_path

BASE = "/internal/reconcile/payments"


def refunded(customer: User, *amounts: str, version: int = 3) -> dict[str, Any]:
    return payment_state(customer_id=customer.id, refunds=amounts, version=version)


def plain(customer: User, **overrides: Any) -> dict[str, Any]:
    return payment_state(customer_id=customer.id, **overrides)


def seed(sessions: sessionmaker[Session], *states: dict[str, Any]) -> None:
    with unit_of_work(sessions) as session:
        assert apply_payment_states(session, list(states)) == len(states)


def sql(sessions: sessionmaker[Session], statement: str, **params: Any) -> None:
    """A write behind sync's back."""
    with sessions.begin() as session:
        session.execute(text(statement), params)


def test_rows_are_the_canonical_text_of_each_state_on_postgresql_and_sqlite(
    internal: BlockingASGIClient, sessions: sessionmaker[Session], customer: User, tmp_path: Path
) -> None:
    states = [
        refunded(customer, "20.00", "5.50"),
        plain(customer, order_id=str(uuid.uuid4()), gateway_reference=""),
        plain(customer, status="declined", decline_reason="do_not_honor", gateway_reference=None),
    ]
    seed(sessions, *states)
    rows = canonical_rows(internal, "payments")
    assert {key: row["text"] for key, row in rows.items()} == {
        s["id"]: PAYMENTS.canonical_state(s) for s in states
    }
    bounds = sorted(rows)[1:2]
    on_postgresql = answers_on(sessions, PAYMENT_OWNER, bounds)
    with sqlite_sessions(tmp_path / "payments.sqlite3", migrate.upgrade) as lite:
        seed(lite, *states)
        assert answers_on(lite, PAYMENT_OWNER, bounds) == on_postgresql


def test_a_refund_changed_behind_syncs_back_is_repaired(
    internal: BlockingASGIClient, sessions: sessionmaker[Session], customer: User
) -> None:
    truth = refunded(customer, "20.00", "5.00")
    seed(sessions, truth)
    sql(sessions, "UPDATE refunds SET amount = 4.00 WHERE id = :id", id=truth["refunds"][1]["id"])
    sql(
        sessions,
        "INSERT INTO refunds (id, payment_id, amount, created_at) VALUES (:id, :p, 1, now())",
        id=uuid.uuid4(),
        p=uuid.UUID(truth["id"]),
    )
    [row] = canonical_rows(internal, "payments").values()
    expected = PAYMENTS.canonical_state(truth)
    theirs, ours = PAYMENTS.split(expected), PAYMENTS.split(row["text"])
    assert [name for name in PAYMENTS.field_names if theirs[name] != ours[name]] == ["refunds"]

    assert post_repair(internal, "payments", [truth], observed={truth["id"]: 3}) == {
        "written": 1,
        "deleted": 0,
        "skipped": 0,
    }
    assert canonical_rows(internal, "payments")[truth["id"]]["text"] == expected
    shown = internal.get(payment_path(truth["id"]), headers=bearer(customer)).json()
    assert [(r["id"], r["amount"]) for r in shown["refunds"]] == [
        (r["id"], r["amount"]) for r in truth["refunds"]
    ]


def test_repair_overrides_only_the_state_it_saw_and_deletes_extra_payments(
    internal: BlockingASGIClient, sessions: sessionmaker[Session], customer: User
) -> None:
    corrupt = plain(customer, gateway_reference="gw_corrupt", version=9)
    moved_on = plain(customer, gateway_reference="gw_live", version=9)
    stray = refunded(customer, "1.00", version=2)
    missing = plain(customer, version=2)
    seed(sessions, corrupt, moved_on, stray)
    truth = [
        {**corrupt, "gateway_reference": "gw_truth", "version": 3},
        {**moved_on, "gateway_reference": "gw_stale", "version": 3},
        missing,
    ]
    result = post_repair(
        internal,
        "payments",
        truth,
        # Reconciliation saw ``corrupt`` at 9 (it still is: overwritten although 3 < 9) and
        # ``moved_on`` at 8 (a live event moved it to 9 since: left alone); ``missing`` was
        # missing; ``stray`` is extra at 2, and another extra row is gone already.
        observed={corrupt["id"]: 9, moved_on["id"]: 8, missing["id"]: None},
        extra={stray["id"]: 2, str(uuid.uuid4()): 1},
    )
    assert result == {"written": 2, "deleted": 1, "skipped": 2}
    with sessions() as session:
        stored = {
            str(p.id): (p.gateway_reference, p.version) for p in session.scalars(select(Payment))
        }
        refunds = session.scalar(
            select(func.count()).where(Refund.payment_id == uuid.UUID(stray["id"]))
        )
    assert stored == {
        corrupt["id"]: ("gw_truth", 3),
        moved_on["id"]: ("gw_live", 9),
        missing["id"]: (missing["gateway_reference"], 2),
    }
    assert refunds == 0


def test_runs_are_recorded_and_shown_by_the_sync_stats(internal: BlockingASGIClient) -> None:
    assert internal.get("/internal/sync/stats").json()["last_reconciliation"] is None
    recorded = internal.post(f"{BASE}/runs", json=clean_report("payments", 7))
    assert recorded.status_code == 201, recorded.text
    stats = internal.get("/internal/sync/stats").json()
    last = stats["last_reconciliation"]
    assert (last["aggregate"], last["clean"], last["drift"]) == ("payments", True, 0)
    assert stats["reconciliations"] == {"payments": last}


def test_bad_requests_are_refused_before_anything_runs(internal: BlockingASGIClient) -> None:
    for path, body, status in [
        ("products/rows", {}, 404),  # inventory's, not this service's
        ("payments/rows", {"lo": uuid.uuid4().hex}, 400),
        ("payments/checksums", {"bounds": ["b", "a"]}, 400),
        ("payments/repair", {"states": [{"id": "x"}]}, 400),
        ("payments/repair", {"states": [], "extra": {"SKU-1": 1}}, 400),
        ("payments/runs", clean_report("orders", 1), 400),
        ("payments/bounds", {"parts": 1}, 400),
    ]:
        answer = internal.post(f"/internal/reconcile/{path}", json=body)
        assert answer.status_code == status, (path, body, answer.text)
        assert answer.json()["error"] == ("not_found" if status == 404 else "invalid")
