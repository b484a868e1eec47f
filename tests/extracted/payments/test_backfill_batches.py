"""Payments backfill pages applied by the owner, as COPY text and as state dicts, on real
PostgreSQL (COPY into staging + one merge) and on SQLite (decoded, the plain upsert): which page
is taken (the checkpoint's compare-and-set), versions decide against what events brought, refunds
follow the payment written, a poison page changes nothing, and the stats endpoint shows the
checkpoints."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from extracted.chassis.web.db import make_engine, make_sessions
from extracted.payments import migrate
from extracted.payments.models import Payment, Refund
from extracted.payments.sync import (
    BACKFILL,
    BatchResult,
    SyncInputError,
    apply_backfill_batch,
    apply_backfill_copy,
    apply_event,
    backfill_checkpoint,
    open_backfill_ranges,
)
from monolith.identity.models import User
from tests.extracted.asgi_client import BlockingASGIClient
from tests.extracted.backfill_pages import (
    apply_page,
    as_copy,
    by_id,
    copy_page,
    count,
    walk_two_pages,
)
from tests.extracted.payments.test_sync import T0, envelope, payment_state
from tests.support.random_refs import random_suffix


@pytest.fixture(params=["postgresql", "sqlite"])
def owner(request: pytest.FixtureRequest, tmp_path: Path) -> sessionmaker[Session]:
    """The payments database on PostgreSQL (the bulk path) and on SQLite (the plain upsert):
    the same page must do the same on both."""
    if request.param == "postgresql":
        url: str = request.getfixturevalue("payments_url")
    else:
        url = f"sqlite:///{tmp_path / 'payments.sqlite3'}"
        migrate.upgrade(url)
    engine = make_engine(url)
    request.addfinalizer(engine.dispose)
    return make_sessions(engine)


@pytest.fixture(params=["copy", "json"])
def apply(request: pytest.FixtureRequest) -> Callable[..., BatchResult]:
    """How a page travels: COPY text as the monolith's bulk reader writes it, or state dicts."""
    if request.param == "json":
        return apply_backfill_batch
    return as_copy(apply_backfill_copy, BACKFILL.merge)


def refund(minutes: int, amount: str = "5.00") -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "amount": amount,
        "created_at": (T0 + timedelta(minutes=minutes)).isoformat(),
    }


def page(
    apply: Callable[..., BatchResult],
    sessions: sessionmaker[Session],
    job: str,
    rows: list[dict[str, Any]],
    **how: Any,
) -> BatchResult:
    return apply_page(apply, "payment", sessions, job, rows, **how)


def stored(sessions: sessionmaker[Session], payment_id: str) -> tuple[Any, ...] | None:
    """(status, version, refunded_amount, refunds as sorted (id, amount))."""
    with sessions() as session:
        row = session.get(Payment, uuid.UUID(payment_id))
        if row is None:
            return None
        refunds = sorted((str(r.id), str(r.amount)) for r in row.refunds)
        return (row.status, row.version, str(row.refunded_amount), refunds)


def shown(state: dict[str, Any]) -> tuple[Any, ...]:
    refunds = sorted((r["id"], r["amount"]) for r in state["refunds"])
    return (state["status"], state["version"], state["refunded_amount"], refunds)


def test_a_page_is_taken_only_in_turn_and_written_with_its_children(
    owner: sessionmaker[Session], apply: Callable[..., BatchResult], customer: User
) -> None:
    job = f"payments-{random_suffix()}"
    refunded = {"status": "refunded", "refunded_amount": "50.00", "refunds": [refund(3, "50.00")]}
    rows = by_id(
        [payment_state(customer, **refunded)] + [payment_state(customer) for _ in range(4)]
    )
    walk_two_pages(apply, "payment", owner, job, rows, backfill_checkpoint)
    assert [stored(owner, row["id"]) for row in rows] == [shown(row) for row in rows]
    assert count(owner, Refund) == 1


def test_versions_decide_and_refunds_follow_the_payment_written(
    owner: sessionmaker[Session], apply: Callable[..., BatchResult], customer: User
) -> None:
    # Brought further by a live event than the page's (older) copy: kept, refunds included.
    ahead = payment_state(customer, version=3, refunded_amount="5.00")
    ahead["refunds"] = [refund(1)]
    assert apply_event(envelope(ahead), sessions=owner) == "applied"
    # Behind the page: replaced, its refunds becoming exactly the page's.
    behind = payment_state(customer, refunds=[refund(1)], refunded_amount="5.00")
    assert apply_event(envelope(behind), sessions=owner) == "applied"
    newer = {
        **behind,
        "version": 2,
        "refunded_amount": "10.00",
        "refunds": [*behind["refunds"], refund(2)],
    }
    gone = payment_state(customer, refunds=[refund(1)], refunded_amount="5.00")
    assert apply_event(envelope(gone), sessions=owner) == "applied"
    # A page can only carry what the monolith holds; a refund missing from it goes.
    replaced = {**gone, "version": 2, "refunds": [refund(4)]}
    older = {**ahead, "version": 2, "refunded_amount": "0.00", "refunds": []}

    rows = by_id([older, newer, replaced])
    result = page(apply, owner, f"payments-{random_suffix()}", rows, after_key=None, done=True)
    assert (result.taken, result.written, result.checkpoint.rows) == (True, 2, 3)
    assert stored(owner, ahead["id"]) == shown(ahead)
    assert stored(owner, newer["id"]) == shown(newer)
    assert stored(owner, replaced["id"]) == shown(replaced)
    assert count(owner, Refund) == 1 + 2 + 1
    # An event newer than the backfilled row still applies after it.
    later = {**newer, "version": 3, "status": "refunded", "refunded_amount": "50.00"}
    assert apply_event(envelope(later), sessions=owner) == "applied"
    assert stored(owner, newer["id"]) == shown(later)


@pytest.mark.parametrize(
    ("aggregate_type", "spoil"),
    [
        ("payment", {"amount": "lots"}),  # the database refuses it
        ("payment", {"status": "lost"}),  # the contract refuses it
        ("payment", {"refunds": [{"id": "r1"}]}),
        ("order", {}),  # not an aggregate of this service
    ],
)
def test_a_poison_page_of_state_dicts_is_refused_and_nothing_of_it_applied(
    owner: sessionmaker[Session], customer: User, aggregate_type: str, spoil: dict[str, Any]
) -> None:
    job = f"payments-{random_suffix()}"
    opening = [payment_state(customer)]
    assert page(apply_backfill_batch, owner, job, opening, after_key=None).taken
    before = backfill_checkpoint(job, sessions=owner)
    rows = by_id([payment_state(customer, refunds=[refund(1)]), payment_state(customer)])
    rows[1] = {**rows[1], **spoil}
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
    assert (count(owner, Payment), count(owner, Refund)) == (1, 0)


def _spoiled(text: str, line: int, column: int, value: str) -> str:
    lines = text.split("\n")
    fields = lines[line].split("\t")
    lines[line] = "\t".join([*fields[:column], value, *fields[column + 1 :]])
    return "\n".join(lines)


@pytest.mark.parametrize(
    "spoil",
    [
        lambda text: _spoiled(text, 1, 3, "lots"),  # the amount is no number
        lambda text: _spoiled(text, 1, 4, "lost"),  # an unknown status
        lambda text: text.replace("\t", " ", 1),  # a row with a field too few
        lambda text: _spoiled(text, 3, 2, "-"),  # a refund's amount is no number
        lambda text: text.replace("\\.\n", ""),  # refunds read as payments
    ],
)
def test_a_poison_copy_page_is_refused_and_nothing_of_it_applied(
    owner: sessionmaker[Session], customer: User, spoil: Callable[[str], str]
) -> None:
    job = f"payments-{random_suffix()}"
    opening = [payment_state(customer)]
    assert page(apply_backfill_batch, owner, job, opening, after_key=None).taken
    before = backfill_checkpoint(job, sessions=owner)
    rows = by_id([payment_state(customer), payment_state(customer, refunds=[refund(1)])])
    text = copy_page(BACKFILL.merge, rows)
    assert text.split("\n")[2] == "\\."  # two payments, the mark, their refund
    with pytest.raises(SyncInputError, match="invalid payments page"):
        apply_backfill_copy(
            job=job,
            page=spoil(text).encode(),
            after_key=opening[0]["id"],
            last_key=rows[-1]["id"],
            done=True,
            sessions=owner,
        )
    assert backfill_checkpoint(job, sessions=owner) == before
    assert (count(owner, Payment), count(owner, Refund)) == (1, 0)


def test_the_stats_show_each_job_and_a_split_job_as_the_sum_of_its_ranges(
    sessions: sessionmaker[Session], client: BlockingASGIClient, customer: User
) -> None:
    rows = by_id([payment_state(customer) for _ in range(4)])
    assert page(apply_backfill_batch, sessions, "payments", rows[:2], after_key=None).taken
    middle = str(uuid.UUID(int=1 << 127))
    low = [row for row in rows if row["id"] <= middle]
    high = [row for row in rows if row["id"] > middle]
    first, second = open_backfill_ranges(job="split", ends=[middle], sessions=sessions)
    copy = as_copy(apply_backfill_copy, BACKFILL.merge)
    assert page(copy, sessions, first.job, low, after_key=None, end_key=middle, done=True).taken
    assert page(copy, sessions, second.job, high, after_key=second.last_key).taken

    backfills = {b["job"]: b for b in client.get("/internal/sync/stats").json()["backfills"]}
    assert sorted(backfills) == ["payments", "split", "split#1", "split#2"]
    assert backfills["payments"] == {
        "job": "payments",
        "last_key": rows[1]["id"],
        "rows": 2,
        "done": False,
        "updated_at": backfills["payments"]["updated_at"],
        "parent": None,
        "end_key": None,
        "ranges": 0,
    }
    assert (backfills["split#1"]["end_key"], backfills["split#1"]["done"]) == (middle, True)
    whole = backfills["split"]
    assert (whole["rows"], whole["done"], whole["ranges"]) == (4, False, 2)
