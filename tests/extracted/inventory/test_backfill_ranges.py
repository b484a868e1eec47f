"""A backfill job split into key ranges, on real PostgreSQL: one checkpoint per range, each taking
only its own pages, and the job's entry in ``GET /internal/sync/stats`` summing them."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from extracted.inventory.sync import (
    BatchResult,
    SyncInputError,
    apply_backfill_batch,
    backfill_checkpoint,
    open_backfill_ranges,
)
from tests.extracted.asgi_client import BlockingASGIClient
from tests.extracted.inventory.factories import product_state
from tests.support.random_refs import random_suffix


def _page(
    sessions: sessionmaker[Session],
    job: str,
    *,
    after_key: str | None,
    last_key: str,
    end_key: str | None,
    done: bool = False,
    rows: int = 2,
    restart: bool = False,
) -> BatchResult:
    return apply_backfill_batch(
        job=job,
        aggregate_type="product",
        rows=[product_state() for _ in range(rows)],
        after_key=after_key,
        last_key=last_key,
        done=done,
        restart=restart,
        sessions=sessions,
        end_key=end_key,
    )


def _entries(client: BlockingASGIClient) -> dict[str, dict[str, Any]]:
    return {entry["job"]: entry for entry in client.get("/internal/sync/stats").json()["backfills"]}


def test_ranges_take_their_own_pages_and_the_job_reads_as_their_sum(
    sessions: sessionmaker[Session], client: BlockingASGIClient
) -> None:
    job = f"products-{random_suffix()}"
    ranges = open_backfill_ranges(job=job, ends=["k3", "k6"], sessions=sessions)
    assert [(r.job, r.last_key, r.end_key, r.parent) for r in ranges] == [
        (f"{job}#1", None, "k3", job),
        (f"{job}#2", "k3", "k6", job),
        (f"{job}#3", "k6", None, job),
    ]

    assert _page(sessions, f"{job}#1", after_key=None, last_key="k2", end_key="k3").taken
    assert _page(sessions, f"{job}#2", after_key="k3", last_key="k4", end_key="k6").taken
    # A page of range 2 that names another end (an older split) is not range 2's.
    assert not _page(sessions, f"{job}#2", after_key="k4", last_key="k5", end_key="k9").taken
    # Each range has its own position: range 3 starts where range 2 ends, whatever 2 did.
    assert not _page(sessions, f"{job}#3", after_key="k4", last_key="k7", end_key=None).taken
    last = _page(sessions, f"{job}#3", after_key="k6", last_key="k8", end_key=None, done=True)
    assert last.taken and last.checkpoint.done

    entries = _entries(client)
    assert {k: entries[job][k] for k in ("rows", "done", "ranges", "last_key")} == {
        "rows": 6,
        "done": False,
        "ranges": 3,
        "last_key": None,
    }
    assert entries[f"{job}#2"]["parent"] == job and entries[f"{job}#2"]["end_key"] == "k6"

    for name, after_key, end_key in ((f"{job}#1", "k2", "k3"), (f"{job}#2", "k4", "k6")):
        assert _page(
            sessions, name, after_key=after_key, last_key=end_key, end_key=end_key, done=True
        ).taken
    entries = _entries(client)
    assert (entries[job]["rows"], entries[job]["done"]) == (10, True)
    assert entries[job]["updated_at"] == max(entries[f"{job}#{n}"]["updated_at"] for n in (1, 2, 3))


def test_a_new_split_replaces_the_old_and_a_gone_range_is_never_created(
    sessions: sessionmaker[Session], client: BlockingASGIClient
) -> None:
    job = f"products-{random_suffix()}"
    open_backfill_ranges(job=job, ends=["k3", "k6", "k9"], sessions=sessions)
    assert _page(sessions, f"{job}#4", after_key="k9", last_key="k10", end_key=None).taken

    open_backfill_ranges(job=job, ends=["k5"], sessions=sessions)
    # Range 4 of the old split is gone: its next page is dropped and makes no checkpoint.
    assert not _page(sessions, f"{job}#4", after_key="k10", last_key="k11", end_key=None).taken
    assert backfill_checkpoint(f"{job}#4", sessions=sessions) is None
    entries = _entries(client)
    assert sorted(entries) == [job, f"{job}#1", f"{job}#2"]
    assert (entries[job]["rows"], entries[job]["ranges"]) == (0, 2)


def test_a_restart_in_one_chain_drops_the_ranges(
    sessions: sessionmaker[Session], client: BlockingASGIClient
) -> None:
    job = f"products-{random_suffix()}"
    open_backfill_ranges(job=job, ends=["k5"], sessions=sessions)
    assert _page(sessions, f"{job}#1", after_key=None, last_key="k2", end_key="k5").taken

    restarted = _page(sessions, job, after_key=None, last_key="k3", end_key=None, restart=True)
    assert restarted.taken and restarted.checkpoint.rows == 2
    entries = _entries(client)
    assert sorted(entries) == [job]
    assert entries[job]["ranges"] == 0 and entries[job]["last_key"] == "k3"


@pytest.mark.parametrize(
    ("job", "ends"),
    [("products", ["k5", "k5"]), ("products", ["k6", "k5"]), ("products", [""]), ("a#b", [])],
)
def test_bad_ranges_are_refused_and_change_nothing(
    sessions: sessionmaker[Session], job: str, ends: list[str]
) -> None:
    name = f"{job}-{random_suffix()}" if "#" not in job else job
    with pytest.raises(SyncInputError):
        open_backfill_ranges(job=name, ends=ends, sessions=sessions)
    assert backfill_checkpoint(f"{name}#1", sessions=sessions) is None
