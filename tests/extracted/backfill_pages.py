"""Helpers of the owner-side backfill tests of the services whose aggregates have child rows
(payments, orders): a keyset page applied as the worker applies it, whichever way it travels
(state dicts, or COPY text as the monolith's bulk reader writes it), and row counts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from extracted.chassis.sync.backfill_checkpoints import BatchResult
from extracted.chassis.sync.bulk_merge import AggregateMerge
from protocol.copy_text import encode_rows, join_page


def apply_page(
    apply: Callable[..., BatchResult],
    aggregate_type: str,
    sessions: sessionmaker[Session],
    job: str,
    rows: list[dict[str, Any]],
    *,
    after_key: str | None,
    done: bool = False,
    restart: bool = False,
    end_key: str | None = None,
) -> BatchResult:
    """Apply ``rows`` with the owner's ``apply`` as the keyset page after ``after_key`` (its
    last key: the last row's id)."""
    return apply(
        job=job,
        aggregate_type=aggregate_type,
        rows=rows,
        after_key=after_key,
        last_key=rows[-1]["id"] if rows else after_key,
        done=done,
        restart=restart,
        sessions=sessions,
        end_key=end_key,
    )


def _field(value: Any) -> Any:
    """A state's timestamp as PostgreSQL's COPY writes it in a UTC session (``... +00``)."""
    if isinstance(value, str) and value[10:11] == "T" and value.endswith(("+00:00", "Z")):
        return datetime.fromisoformat(value).strftime("%Y-%m-%d %H:%M:%S.%f+00")
    return value


def copy_page(merge: AggregateMerge | None, rows: list[dict[str, Any]]) -> str:
    """State dicts as one page of COPY text (protocol.copy_text), as the monolith writes it:
    the rows in ``merge.columns``, the mark, then their child rows."""
    assert merge is not None
    kids = merge.children
    assert kids is not None
    parents = [[_field(row[c]) for c in merge.columns] for row in rows]
    children = [
        [row[merge.key] if c == kids.parent else _field(child[c]) for c in kids.columns]
        for row in rows
        for child in row[kids.field]
    ]
    return join_page(encode_rows(parents).encode(), encode_rows(children).encode()).decode()


def as_copy(
    apply_copy: Callable[..., BatchResult], merge: AggregateMerge | None
) -> Callable[..., BatchResult]:
    """An applier of state-dict pages (``apply_backfill_batch``'s arguments) that sends them
    as COPY text to the owner's ``apply_copy``."""

    def apply(*, aggregate_type: str, rows: list[dict[str, Any]], **page: Any) -> BatchResult:
        return apply_copy(page=copy_page(merge, rows), **page)

    return apply


def walk_two_pages(
    apply: Callable[..., BatchResult],
    aggregate_type: str,
    sessions: sessionmaker[Session],
    job: str,
    rows: list[dict[str, Any]],
    checkpoint_of: Callable[..., object],
) -> None:
    """Five ``rows`` (by id) as a page of three and a last page of two, with what the
    checkpoint protocol says of each copy: the first taken, its replayed copy dropped, the last
    taken and the job done, a page after the end dropped, a restart taken with the rows over."""
    assert len(rows) == 5
    first, second = rows[:3], rows[3:]

    def page(part: list[dict[str, Any]], **how: Any) -> BatchResult:
        return apply_page(apply, aggregate_type, sessions, job, part, **how)

    taken = page(first, after_key=None)
    assert (taken.taken, taken.written) == (True, 3)
    assert (taken.checkpoint.last_key, taken.checkpoint.rows) == (first[-1]["id"], 3)
    assert checkpoint_of(job, sessions=sessions) == taken.checkpoint
    # A copy of the first page (an older run's, still in flight): dropped, nothing changes.
    again = page(first, after_key=None)
    assert (again.taken, again.written, again.checkpoint) == (False, 0, taken.checkpoint)

    last = page(second, after_key=first[-1]["id"], done=True)
    assert (last.taken, last.written, last.checkpoint.rows, last.checkpoint.done) == (
        True,
        2,
        5,
        True,
    )
    assert not page(second, after_key=first[-1]["id"]).taken  # after the end

    restarted = page(first, after_key=None, restart=True)
    assert restarted.taken and restarted.written == 0  # the rows are there at those versions
    assert (restarted.checkpoint.rows, restarted.checkpoint.done) == (3, False)


def by_id(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` in key order, as a keyset page holds them."""
    return sorted(rows, key=lambda row: row["id"])


def count(sessions: sessionmaker[Session], model: Any) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0
