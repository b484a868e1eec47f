"""The backfill's checkpoint protocol, shared by every service that takes backfill pages.

Each service keeps its own ``backfill_checkpoints`` table (``BackfillCheckpointColumns`` with its
own ``Base``) in its own database; only the shape and the protocol are shared. A backfill job
(``products``, ``payments``, ...) copies the monolith's rows in keyset pages; the owner applies a
page together with its job's checkpoint in one transaction (``CheckpointStore.apply``):
compare-and-set on the checkpoint, write the rows, move the checkpoint. So a resumed backfill
redoes at most the page that was in flight, however many copies of a page are delivered.

Safe under concurrent workers on PostgreSQL: a page locks its job's checkpoint row before
comparing it (``_locked``); on SQLite the chassis's ``BEGIN IMMEDIATE`` serialises writers.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import BigInteger, String, Table, select
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from extracted.chassis.db_types import UTCDateTime
from extracted.chassis.sync.subscriber import SyncInputError, dialect_insert
from extracted.chassis.timefmt import as_utc, format_timestamp, utcnow


class BackfillCheckpointColumns:
    """Declarative mixin: ``class BackfillCheckpoint(BackfillCheckpointColumns, Base):
    __tablename__ = "backfill_checkpoints"``. One row per job, and per range of a job split into
    key ranges (``CheckpointStore.open_ranges``)."""

    job: Mapped[str] = mapped_column(String(200), primary_key=True)
    last_key: Mapped[str | None] = mapped_column(String(200))
    rows: Mapped[int] = mapped_column(BigInteger)
    done: Mapped[bool]
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: A range of a job split into key ranges: the job's name (NULL: a job's own checkpoint).
    parent: Mapped[str | None] = mapped_column(String(200), index=True)
    #: Where the range ends (inclusive); NULL: to the end of the keys.
    end_key: Mapped[str | None] = mapped_column(String(200))


@dataclass(frozen=True)
class Checkpoint:
    job: str
    last_key: str | None
    rows: int
    done: bool
    updated_at: datetime
    #: A range of a split job: the job's name, and where the range ends (None: the last range).
    parent: str | None = None
    end_key: str | None = None


@dataclass(frozen=True)
class BatchResult:
    """What one backfill batch did. ``taken`` is False when the job's checkpoint did not stand
    where the batch starts: then nothing changed, and ``checkpoint`` is where the job stands (a
    job that never ran reads as at the start, no rows). When taken, ``checkpoint`` is the moved
    one and ``written`` the rows actually written (newer or missing here)."""

    taken: bool
    written: int
    checkpoint: Checkpoint


class _NotTaken(Exception):
    """Leaves the batch's transaction (rolling it back) when the batch is out of turn."""

    def __init__(self, checkpoint: Checkpoint) -> None:
        super().__init__(checkpoint.job)
        self.checkpoint = checkpoint


def range_job(job: str, number: int) -> str:
    """The checkpoint name of range ``number`` (1-based) of ``job``."""
    return f"{job}#{number}"


class CheckpointStore:
    """One service's backfill checkpoints: its table, and where its sessions come from when a
    caller names none (``default_sessions`` is called at use, so settings are read late)."""

    def __init__(
        self,
        model: type[BackfillCheckpointColumns],
        default_sessions: Callable[[], sessionmaker[Session]],
    ) -> None:
        self.model = model
        self.table: Table = model.__table__  # type: ignore[attr-defined]
        self._default_sessions = default_sessions

    def _sessions(self, sessions: sessionmaker[Session] | None) -> sessionmaker[Session]:
        return sessions or self._default_sessions()

    def apply(
        self,
        *,
        job: str,
        write: Callable[[Session], int],
        row_count: int,
        after_key: str | None,
        last_key: str | None,
        done: bool,
        restart: bool,
        sessions: sessionmaker[Session] | None = None,
        on_taken: Callable[[], None] | None = None,
        end_key: str | None = None,
    ) -> BatchResult:
        """Apply one keyset page of a backfill job if it is the job's next one, in one
        transaction: compare-and-set on the job's checkpoint, ``write`` (which writes the page's
        rows in the same transaction and returns how many it wrote), move the checkpoint.

        The page is the next one when the checkpoint is not done and stands at ``after_key`` (the
        key the page was read after), or when it opens a restarted backfill (``restart`` with no
        ``after_key``: the checkpoint starts over). Any other page (a copy from an older run
        still in flight after a crash, a page after the end) changes nothing: so a resumed
        backfill redoes at most the page that was in flight, however many chains deliver pages
        concurrently. A range of a split job (``open_ranges``) is a job of its own; its pages
        name the range's end (``end_key``), and a page whose end differs (from an older split)
        is not in turn.

        ``on_taken`` runs once the page is known to be in turn, with the checkpoint still locked
        and before the rows are written: the worker asks for the next page there, so the
        monolith reads it while this one is written. The next page waits on the checkpoint's
        lock and finds it where it starts once this transaction commits; if this one rolls back
        instead, the next page finds the checkpoint behind it and is dropped, and this page's
        retry asks for it again."""
        if not job:
            raise SyncInputError("job must be a non-empty string")
        try:
            with self._sessions(sessions).begin() as session:
                current = self._locked(session, job)
                if current.end_key != end_key:
                    raise _NotTaken(current)
                if restart and after_key is None:
                    # A job restarted in one chain: the ranges of an older split go.
                    session.execute(self.table.delete().where(self.table.c.parent == job))
                    copied_before = 0
                elif not current.done and current.last_key == after_key:
                    copied_before = current.rows
                else:
                    raise _NotTaken(current)
                if on_taken is not None:
                    on_taken()
                written = write(session)
                moved = self._move(
                    session, job, last_key=last_key, rows=copied_before + row_count, done=done
                )
        except _NotTaken as out_of_turn:
            return BatchResult(taken=False, written=0, checkpoint=out_of_turn.checkpoint)
        return BatchResult(taken=True, written=written, checkpoint=moved)

    def _locked(self, session: Session, job: str) -> Checkpoint:
        """The job's checkpoint, created at the start if missing, locked until the transaction
        ends. A range's checkpoint is only ever created by ``open_ranges``: a page of a range
        that is gone (a newer split has fewer) reads as a range that ends nowhere, so it is
        dropped.

        PostgreSQL: ``SELECT ... FOR UPDATE`` makes a concurrent batch of the same job wait here
        and then read the checkpoint as this transaction left it (READ COMMITTED re-reads a
        locked row's newest version); a first batch racing another waits on the other's
        uncommitted INSERT first. SQLite renders no FOR UPDATE, and needs none: the chassis
        (extracted/chassis/web/db.py) opens every transaction with ``BEGIN IMMEDIATE``, so this
        transaction holds the database's only write lock from its first statement, and writers
        run one after another.
        """
        table = self.table
        if "#" not in job:
            ensure = (
                dialect_insert(session, table)
                .values(job=job, last_key=None, rows=0, done=False, updated_at=utcnow())
                .on_conflict_do_nothing(index_elements=["job"])
            )
            session.execute(ensure)
        row = session.execute(
            select(table).where(table.c.job == job).with_for_update()
        ).one_or_none()
        if row is None:
            return Checkpoint(job, None, 0, True, utcnow(), parent=job.split("#")[0], end_key="")
        return _checkpoint(row)

    def _move(
        self, session: Session, job: str, *, last_key: str | None, rows: int, done: bool
    ) -> Checkpoint:
        row = session.execute(
            self.table.update()
            .where(self.table.c.job == job)
            .values(last_key=last_key, rows=rows, done=done, updated_at=utcnow())
            .returning(*self.table.c)
        ).one()
        return _checkpoint(row)

    def open_ranges(
        self, *, job: str, ends: list[str], sessions: sessionmaker[Session] | None = None
    ) -> list[Checkpoint]:
        """Split ``job`` into ``len(ends) + 1`` key ranges, each with a checkpoint at its start,
        in one transaction: range 1 holds the keys up to ``ends[0]``, range i the keys after
        ``ends[i - 2]`` up to ``ends[i - 1]``, the last one the keys after ``ends[-1]``.

        Whatever the job had before (its own checkpoint, the ranges of an older split) is
        replaced: opening is how a split backfill starts or restarts. Pages still in flight from
        before find a checkpoint that does not stand where they start, or a different range end,
        and are dropped. The ranges' checkpoints are returned in key order."""
        if not job or "#" in job:
            raise SyncInputError(f"job must be a non-empty name without '#', got {job!r}")
        if any(not isinstance(end, str) or not end for end in ends):
            raise SyncInputError("range ends must be non-empty keys")
        if any(a >= b for a, b in itertools.pairwise(ends)):
            # Byte order, as the keys' "C" collation orders them (Python compares code points,
            # which for UTF-8 text is the same order).
            raise SyncInputError("range ends must be strictly increasing")
        now = utcnow()
        starts: list[str | None] = [None, *ends]
        stops: list[str | None] = [*ends, None]
        rows = [
            {
                "job": range_job(job, number),
                "last_key": start,
                "rows": 0,
                "done": False,
                "updated_at": now,
                "parent": job,
                "end_key": stop,
            }
            for number, (start, stop) in enumerate(zip(starts, stops, strict=True), start=1)
        ]
        table = self.table
        with self._sessions(sessions).begin() as session:
            session.execute(table.delete().where((table.c.job == job) | (table.c.parent == job)))
            session.execute(table.insert(), rows)
        return [_checkpoint(SimpleNamespace(**row)) for row in rows]

    def checkpoint(
        self, job: str, *, sessions: sessionmaker[Session] | None = None
    ) -> Checkpoint | None:
        """Where a backfill job stands, or None when it never ran."""
        with self._sessions(sessions)() as session:
            row = session.execute(select(self.table).where(self.table.c.job == job)).one_or_none()
        return None if row is None else _checkpoint(row)


def backfill_entries(
    session: Session, model: type[BackfillCheckpointColumns]
) -> list[dict[str, Any]]:
    """The ``backfills`` of ``GET /internal/sync/stats`` (``sync.control.stats.BackfillState``):
    every checkpoint, plus one entry per job split into ranges that sums them: its rows,
    done when every range is, updated when the latest range was, and ``ranges``: how many.
    So a split job reads like one job (progress bars, the plan's ``backfill_done`` gate),
    and its ranges are listed as well."""
    checkpoints = list(session.scalars(select(model).order_by(model.job)))
    own = {cp.job for cp in checkpoints if cp.parent is None}
    ranges: dict[str, list[BackfillCheckpointColumns]] = {}
    for cp in checkpoints:
        if cp.parent is not None and cp.parent not in own:
            ranges.setdefault(cp.parent, []).append(cp)
    listed = [_entry(cp) for cp in checkpoints]
    for job, parts in ranges.items():
        listed.append(
            {
                "job": job,
                "last_key": None,
                "rows": sum(cp.rows for cp in parts),
                "done": all(cp.done for cp in parts),
                "updated_at": format_timestamp(max(cp.updated_at for cp in parts)),
                "parent": None,
                "end_key": None,
                "ranges": len(parts),
            }
        )
    return sorted(listed, key=lambda entry: str(entry["job"]))


def _entry(cp: BackfillCheckpointColumns) -> dict[str, Any]:
    return {
        "job": cp.job,
        "last_key": cp.last_key,
        "rows": cp.rows,
        "done": cp.done,
        "updated_at": format_timestamp(cp.updated_at),
        "parent": cp.parent,
        "end_key": cp.end_key,
        "ranges": 0,
    }


def _checkpoint(row: Any) -> Checkpoint:
    return Checkpoint(
        job=row.job,
        last_key=row.last_key,
        rows=row.rows,
        done=bool(row.done),
        updated_at=as_utc(row.updated_at),
        parent=row.parent,
        end_key=row.end_key,
    )


__all__ = [
    "BackfillCheckpointColumns",
    "BatchResult",
    "Checkpoint",
    "CheckpointStore",
    "backfill_entries",
    "range_job",
]
