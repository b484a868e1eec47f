"""Backfill batches applied by the owner on real PostgreSQL: which batch is taken (compare-and-set
on the job's checkpoint), what a taken one writes, and that concurrent copies go on only once."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from extracted.chassis.timefmt import utcnow
from extracted.inventory.models import BackfillCheckpoint, Product, Reservation
from extracted.inventory.sync import (
    BatchResult,
    SyncInputError,
    apply_backfill_batch,
    apply_event,
    backfill_checkpoint,
)
from tests.extracted.asgi_client import BlockingASGIClient
from tests.extracted.inventory.factories import envelope, product_state, reservation_state
from tests.support.random_refs import random_suffix
from tests.support.waiting import wait_for

#: Threads applying the same batch at once (the fixture's pool lends each its own connection).
RACERS = 6


def stored(sessions: sessionmaker[Session], sku: str) -> Product | None:
    with sessions() as session:
        return session.get(Product, sku)


def count(sessions: sessionmaker[Session], model: Any) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


@dataclass(frozen=True)
class Page:
    """One keyset page of a products job: read after ``after_key``, ending at ``last_key``."""

    job: str
    after_key: str | None
    last_key: str | None
    done: bool = False
    restart: bool = False
    size: int = 2

    def apply(self, sessions: sessionmaker[Session], rows: list[dict[str, Any]]) -> BatchResult:
        return apply_backfill_batch(
            job=self.job,
            aggregate_type="product",
            rows=rows,
            after_key=self.after_key,
            last_key=self.last_key,
            done=self.done,
            restart=self.restart,
            sessions=sessions,
        )

    def rows(self) -> list[dict[str, Any]]:
        return [product_state() for _ in range(self.size)]


def test_a_backfill_batch_upserts_newer_rows_and_moves_its_checkpoint(
    sessions: sessionmaker[Session],
) -> None:
    job = f"products-{random_suffix()}"
    assert backfill_checkpoint(job, sessions=sessions) is None
    newer_here = product_state(version=5, on_hand=50)
    apply_event(envelope(newer_here), sessions=sessions)
    rows = [
        product_state(version=2),
        product_state(version=1),
        {**newer_here, "version": 4, "on_hand": 1},
    ]
    first = Page(job, after_key=None, last_key=rows[-1]["sku"]).apply(sessions, rows)
    assert (first.taken, first.written) == (True, 2)
    kept = stored(sessions, newer_here["sku"])
    assert kept is not None and (kept.version, kept.on_hand) == (5, 50)
    checkpoint = backfill_checkpoint(job, sessions=sessions)
    assert checkpoint == first.checkpoint
    assert checkpoint is not None
    assert (checkpoint.last_key, checkpoint.rows, checkpoint.done) == (rows[-1]["sku"], 3, False)
    last = Page(job, after_key=rows[-1]["sku"], last_key="zzz", done=True).apply(sessions, rows[:1])
    assert (last.taken, last.written) == (True, 0)  # already there at that version
    checkpoint = backfill_checkpoint(job, sessions=sessions)
    assert checkpoint == last.checkpoint
    assert checkpoint is not None
    assert (checkpoint.last_key, checkpoint.rows, checkpoint.done) == ("zzz", 4, True)
    assert checkpoint.updated_at.tzinfo is not None


def test_a_backfill_batch_is_all_or_nothing_with_its_checkpoint(
    sessions: sessionmaker[Session],
) -> None:
    job = f"products-{random_suffix()}"
    Page(job, after_key=None, last_key="a").apply(sessions, [product_state()])
    before = backfill_checkpoint(job, sessions=sessions)
    # Valid JSON shape, but a row the database refuses (reserved > on_hand): the whole batch and
    # its checkpoint roll back together.
    refused = [product_state(), product_state(on_hand=1, reserved=5)]
    with pytest.raises(IntegrityError, match="products_reserved_within_on_hand"):
        Page(job, after_key="a", last_key="b", done=True).apply(sessions, refused)
    assert stored(sessions, refused[0]["sku"]) is None
    assert backfill_checkpoint(job, sessions=sessions) == before
    for job_name, aggregate_type, rows in (
        (job, "product", [{"sku": "x"}]),
        (job, "order", [product_state()]),
        ("", "product", [product_state()]),
    ):
        with pytest.raises(SyncInputError):
            apply_backfill_batch(
                job=job_name,
                aggregate_type=aggregate_type,
                rows=rows,
                after_key="a",
                last_key="c",
                done=True,
                sessions=sessions,
            )
    assert backfill_checkpoint(job, sessions=sessions) == before
    assert count(sessions, Product) == 1


def test_a_reservation_backfill_writes_lines(
    sessions: sessionmaker[Session], client: BlockingASGIClient
) -> None:
    job = f"reservations-{random_suffix()}"
    rows = [reservation_state(lines=[("S-2", 1), ("S-1", 2), ("S-2", 1)]) for _ in range(3)]
    rows.append({**rows[0], "version": 2, "status": "released"})  # the same id twice: newest wins
    result = apply_backfill_batch(
        job=job,
        aggregate_type="reservation",
        rows=rows,
        after_key=None,
        last_key=None,
        done=True,
        sessions=sessions,
    )
    assert (result.taken, result.written) == (True, 3)
    assert count(sessions, Reservation) == 3
    body = client.get(f"/api/inventory/reservations/{rows[0]['id']}/").json()
    assert (body["status"], body["version"]) == ("released", 2)
    assert body["lines"] == [{"sku": "S-1", "quantity": 2}, {"sku": "S-2", "quantity": 2}]


@pytest.mark.parametrize(
    ("before", "after_key", "restart", "taken"),
    [
        (None, None, False, True),  # the first page of a job that never ran
        (None, "SKU-00100", False, False),  # a page of a run whose start never landed
        ("running", "SKU-00100", False, True),  # the next page
        ("running", "SKU-00075", False, False),  # a page already applied (an older run's copy)
        ("running", None, False, False),  # a stray first page while a run is under way
        ("done", "SKU-00100", False, False),  # anything after the end
        ("done", None, False, False),  # a first page of a finished job, not restarted
        ("running", "SKU-00075", True, False),  # only a first page restarts
        (None, None, True, True),  # a restart of a job that never ran starts it
    ],
)
def test_which_batch_the_owner_takes(
    sessions: sessionmaker[Session],
    before: str | None,
    after_key: str | None,
    restart: bool,
    taken: bool,
) -> None:
    job = f"products-{random_suffix()}"
    if before is not None:
        start = Page(job, after_key=None, last_key="SKU-00100", done=before == "done")
        assert start.apply(sessions, start.rows()).taken
    checkpoint = backfill_checkpoint(job, sessions=sessions)
    products = count(sessions, Product)

    page = Page(job, after_key=after_key, last_key="SKU-00200", restart=restart)
    rows = page.rows()
    result = page.apply(sessions, rows)

    assert result.taken is taken
    if taken:
        assert result.written == len(rows)
        assert (result.checkpoint.last_key, result.checkpoint.done) == ("SKU-00200", False)
        assert backfill_checkpoint(job, sessions=sessions) == result.checkpoint
    else:  # nothing changed: no row written, the checkpoint as it was (or still none)
        assert result.written == 0
        assert backfill_checkpoint(job, sessions=sessions) == checkpoint
        assert count(sessions, Product) == products
        assert all(stored(sessions, row["sku"]) is None for row in rows)


def test_a_restart_starts_the_rows_over_even_after_the_end(
    sessions: sessionmaker[Session],
) -> None:
    job = f"products-{random_suffix()}"
    first = Page(job, after_key=None, last_key="k1", size=3)
    assert first.apply(sessions, first.rows()).taken
    last = Page(job, after_key="k1", last_key="k2", done=True, size=2)
    assert last.apply(sessions, last.rows()).checkpoint.rows == 5
    assert not Page(job, after_key=None, last_key="k1").apply(sessions, first.rows()).taken

    restarted = Page(job, after_key=None, last_key="k1", restart=True, size=4)
    result = restarted.apply(sessions, restarted.rows())
    assert result.taken
    assert (result.checkpoint.last_key, result.checkpoint.rows, result.checkpoint.done) == (
        "k1",
        4,
        False,
    )
    following = Page(job, after_key="k1", last_key="k2", done=True, size=1)
    assert following.apply(sessions, following.rows()).checkpoint.rows == 5


def _waiting_on_locks(database_url: str) -> int:
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        ).fetchone()
    return int(row[0]) if row else 0


@pytest.mark.parametrize("page", ["first", "next"])
def test_the_same_batch_from_many_workers_is_taken_once(
    inventory_url: str, sessions: sessionmaker[Session], page: str
) -> None:
    """Every copy is delivered while a gate (this test's own transaction) holds the checkpoint
    row: an uncommitted insert of it for a first page, a row lock for a later one. Only once all
    copies wait on a lock does the gate commit, so each had read nothing yet, or the rule would
    let several through; the rows count shows any double-counted copy."""
    job = f"products-{random_suffix()}"
    after_key: str | None = None
    rows_before = 0
    if page == "next":
        opening = Page(job, after_key=None, last_key="k1", size=3)
        assert opening.apply(sessions, opening.rows()).taken
        after_key, rows_before = "k1", 3
    contested = Page(job, after_key=after_key, last_key="k2", size=4)
    rows = contested.rows()

    with ThreadPoolExecutor(RACERS) as pool:
        with sessions.begin() as gate:
            if page == "first":
                gate.add(
                    BackfillCheckpoint(
                        job=job, last_key=None, rows=0, done=False, updated_at=utcnow()
                    )
                )
                gate.flush()
            else:
                gate.execute(
                    select(BackfillCheckpoint)
                    .where(BackfillCheckpoint.job == job)
                    .with_for_update()
                )
            copies: list[Future[BatchResult]] = [
                pool.submit(contested.apply, sessions, rows) for _ in range(RACERS)
            ]
            wait_for(
                lambda: _waiting_on_locks(inventory_url) == RACERS,
                message=f"all {RACERS} copies to wait on the gate",
            )
        results = [copy.result(timeout=30) for copy in copies]

    assert sorted(result.taken for result in results) == [False] * (RACERS - 1) + [True]
    checkpoint = backfill_checkpoint(job, sessions=sessions)
    assert checkpoint is not None
    assert (checkpoint.last_key, checkpoint.rows) == ("k2", rows_before + len(rows))
    assert all(stored(sessions, row["sku"]) is not None for row in rows)
