"""Backfill pages of state dicts (what the monolith's keyset readers produce), applied by their
owner: parse the rows as the aggregate's contract says (the same models its events carry), keep
each key's newest version, and write them inside the checkpoint protocol
(``extracted.chassis.sync.backfill_checkpoints``), all or nothing with the checkpoint.

Each service hands in its checkpoints, its event applier (which knows the payload model of each
aggregate type it owns), the key field of each aggregate, and how it writes a page (on PostgreSQL
the bulk path of ``extracted.chassis.sync.bulk_merge``, elsewhere its plain upsert by version).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Generic, TypeVar

from pydantic import BaseModel
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from extracted.chassis.sync.backfill_checkpoints import BatchResult, CheckpointStore
from extracted.chassis.sync.subscriber import EventApplier, SyncInputError

S = TypeVar("S", bound=BaseModel)


def newest_per_key(states: Sequence[S], key: str) -> list[S]:
    """A batch naming one row twice keeps its newest version (one statement may not touch a
    row twice on PostgreSQL)."""
    newest: dict[Any, Any] = {}
    for state in states:
        row: Any = state
        k = getattr(row, key)
        if k not in newest or row.version > newest[k].version:
            newest[k] = row
    return list(newest.values())


def on_postgresql(session: Session) -> bool:
    """Whether the session writes PostgreSQL (the bulk path) rather than SQLite."""
    return session.get_bind().dialect.name == "postgresql"


@contextmanager
def refused_rows_as_input_error(what: str) -> Iterator[None]:
    """A page the plain upsert path cannot write (a constraint refuses a row, a money text
    that is no number) becomes ``SyncInputError``, one line: the page is poison, and retrying
    would not change that. (The bulk path has its own: ``bulk_merge.poison_as_input_error``.)"""
    try:
        yield
    except (DataError, IntegrityError) as exc:
        raise SyncInputError(f"invalid {what} page: {exc.orig}") from None
    except ArithmeticError as exc:
        raise SyncInputError(f"invalid {what} page: {exc!r}") from None


def bulk_or_plain(
    what: str,
    *,
    bulk: Callable[[Session, list[S]], int],
    plain: Callable[[Session, list[S]], int],
) -> Callable[[Session, str, list[S]], int]:
    """A page's write for a service with one aggregate: on PostgreSQL ``bulk`` (COPY into
    staging + one merge, ``bulk_merge``, which refuses a poison page itself), elsewhere ``plain``
    (the upsert by version the events use), its refusals as ``SyncInputError`` too."""

    def write(session: Session, aggregate_type: str, states: list[S]) -> int:
        if on_postgresql(session):
            return bulk(session, states)
        with refused_rows_as_input_error(what):
            return plain(session, states)

    return write


class StatePages(Generic[S]):
    """How one service applies backfill pages: ``write(session, aggregate_type, states)`` writes
    the page's states where each is newer than the stored row (or missing) and returns how many
    it wrote; ``keys`` names each aggregate type's key field."""

    def __init__(
        self,
        *,
        checkpoints: CheckpointStore,
        events: EventApplier[S],
        keys: dict[str, str],
        write: Callable[[Session, str, list[S]], int],
    ) -> None:
        self.checkpoints = checkpoints
        self.events = events
        self.keys = keys
        self.write = write

    def apply(
        self,
        *,
        job: str,
        aggregate_type: str,
        rows: list[dict[str, Any]],
        after_key: str | None,
        last_key: str | None,
        done: bool,
        restart: bool = False,
        sessions: sessionmaker[Session] | None = None,
        on_taken: Callable[[], None] | None = None,
        end_key: str | None = None,
    ) -> BatchResult:
        """Apply one keyset page of a backfill job if it is the job's next one, in one
        transaction with its checkpoint (``CheckpointStore.apply`` says which page is in turn).
        Rows that do not fit the contract raise ``SyncInputError`` before anything is written."""
        states = newest_per_key(self.events.parse(aggregate_type, rows), self.keys[aggregate_type])
        return self.checkpoints.apply(
            job=job,
            write=lambda session: self.write(session, aggregate_type, states),
            row_count=len(rows),
            after_key=after_key,
            last_key=last_key,
            done=done,
            restart=restart,
            sessions=sessions,
            on_taken=on_taken,
            end_key=end_key,
        )


__all__ = [
    "StatePages",
    "bulk_or_plain",
    "newest_per_key",
    "on_postgresql",
    "refused_rows_as_input_error",
]
