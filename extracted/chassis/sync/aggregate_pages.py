"""One service's backfill of one aggregate: its keyset pages as they travel, applied by the owner
inside the checkpoint protocol (``extracted.chassis.sync.backfill_checkpoints``), all or nothing
with the checkpoint. Every aggregate of every service is applied here: with child rows (a payment
and its refunds, an order and its lines) or without (a product).

* **COPY text** (``apply_copy``, the bulk wire, protocol.copy_text: the rows, then for an
  aggregate with children the mark and their child rows): on PostgreSQL the text is ``COPY``ed
  as it came and merged in one statement (``extracted.chassis.sync.bulk_merge.AggregateMerge``);
  no Python object per row. A page of an aggregate without children whose key range holds no
  row yet is ``COPY``ed straight into the table. On SQLite the text is decoded into the
  contract's states and takes the plain upsert.
* **State dicts** (``apply_batch``, ``--wire json``, and aggregates without a COPY wire):
  validated as the contract's states (the models its events carry), each key's newest kept, then
  written by ``write_states``: by default ``COPY``ed into staging from Python on PostgreSQL
  (``AggregateMerge.write_states``), the plain upsert elsewhere.

Either way versions decide: an aggregate is written only where the page's version is newer than
the stored one (or it is missing), and only then are its children replaced by the page's.
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from extracted.chassis.sync.backfill_checkpoints import BatchResult, CheckpointStore
from extracted.chassis.sync.bulk_merge import AggregateMerge
from extracted.chassis.sync.subscriber import EventApplier, SyncInputError
from protocol.copy_text import (
    CopyTextError,
    count_rows,
    decode_rows,
    parse_timestamps,
    split_page,
)

S = TypeVar("S", bound=BaseModel)

#: How a page's states are written: ``(session, states) -> rows written``.
WriteStates = Callable[[Session, list[S]], int]


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


def _datetime_fields(model: type[BaseModel]) -> set[str]:
    return {name for name, f in model.model_fields.items() if f.annotation is datetime}


class AggregatePages(Generic[S]):
    """The backfill of ``aggregate_type`` (by default the one aggregate type ``events`` knows;
    its payload model is the page's state model), keyed by ``key``.

    ``merge`` says how a page is merged on PostgreSQL (its columns, in the wire's order, are the
    state's fields); an aggregate without one takes state dicts only. ``plain(session, states)``
    is how a page is written elsewhere (the upsert by version its events use). ``write_states``
    replaces how a page of state dicts is written (default: ``merge`` on PostgreSQL, ``plain``
    elsewhere, a refused row as ``SyncInputError``). ``what`` names the pages in refusals
    (``invalid payments page: ...``)."""

    def __init__(
        self,
        *,
        checkpoints: CheckpointStore,
        events: EventApplier[S],
        plain: WriteStates[S],
        what: str,
        merge: AggregateMerge | None = None,
        aggregate_type: str | None = None,
        key: str | None = None,
        write_states: WriteStates[S] | None = None,
    ) -> None:
        if aggregate_type is None:
            ((aggregate_type, _model),) = events.states.items()
        self.aggregate_type = aggregate_type
        self.model = events.states[aggregate_type]
        if key is None:
            if merge is None:
                raise ValueError("an aggregate without a merge names its key")
            key = merge.key
        self.key = key
        self.checkpoints = checkpoints
        self.events = events
        self.merge = merge
        self.plain = plain
        self.what = what
        self.write_states = write_states or self._bulk_or_plain
        self._timestamps = _datetime_fields(self.model)
        self._child_timestamps: set[str] = set()
        if merge is not None and merge.children is not None:
            field = self.model.model_fields[merge.children.field]
            self._child_timestamps = _datetime_fields(typing.get_args(field.annotation)[0])

    def apply_batch(
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
        """Apply one keyset page of state dicts if it is the job's next one, in one transaction
        with its checkpoint (``CheckpointStore.apply`` says which page is in turn). Rows that do
        not fit the contract raise ``SyncInputError`` before anything is written."""
        parsed = self.events.parse(aggregate_type, rows)
        if aggregate_type != self.aggregate_type:
            raise SyncInputError(
                f"unknown aggregate_type {aggregate_type!r} (expected {self.aggregate_type!r})"
            )
        states = newest_per_key(parsed, self.key)
        return self.checkpoints.apply(
            job=job,
            write=lambda session: self.write_states(session, states),
            row_count=len(rows),
            after_key=after_key,
            last_key=last_key,
            done=done,
            restart=restart,
            sessions=sessions,
            on_taken=on_taken,
            end_key=end_key,
        )

    def apply_copy(
        self,
        *,
        job: str,
        page: str | bytes,
        after_key: str | None,
        last_key: str | None,
        done: bool,
        restart: bool = False,
        sessions: sessionmaker[Session] | None = None,
        on_taken: Callable[[], None] | None = None,
        end_key: str | None = None,
    ) -> BatchResult:
        """Apply one page in COPY text (``str``, or its UTF-8 ``bytes`` as they travel beside
        the message) if it is the job's next one (``CheckpointStore.apply``). A page that is
        not COPY text of the contract's columns, or that the database refuses, raises
        ``SyncInputError`` with nothing of it applied."""
        merge = self.merge
        if merge is None:
            raise SyncInputError(f"{self.what} pages travel as state dicts, not COPY text")
        rows, children = split_page(page)
        states: list[S] | None = None

        def write(session: Session) -> int:
            nonlocal states
            if on_postgresql(session):
                if merge.children is None and last_key is not None:
                    straight = merge.copy_into_empty_range(
                        session, rows, after_key=after_key, last_key=last_key
                    )
                    if straight is not None:
                        return straight
                return merge.write_text(session, rows, children)
            if states is None:
                states = newest_per_key(self.decode(rows, children), self.key)
            with refused_rows_as_input_error(self.what):
                return self.plain(session, states)

        return self.checkpoints.apply(
            job=job,
            write=write,
            row_count=count_rows(rows),
            after_key=after_key,
            last_key=last_key,
            done=done,
            restart=restart,
            sessions=sessions,
            on_taken=on_taken,
            end_key=end_key,
        )

    def decode(self, rows: str | bytes, children: str | bytes) -> list[S]:
        """A page's states from its COPY text (where no COPY reads it: SQLite), each with its
        child rows if it has any; ``SyncInputError`` when it is not what the contract says."""
        assert self.merge is not None
        kids = self.merge.children
        try:
            parents = decode_rows(_text(rows), self.merge.columns)
            by_parent: dict[str | None, list[dict[str, Any]]] = {}
            if kids is not None:
                for child in decode_rows(_text(children), kids.columns):
                    parse_timestamps(child, self._child_timestamps)
                    by_parent.setdefault(child.pop(kids.parent), []).append(child)
            states = []
            for row in parents:
                state: dict[str, Any] = dict(row)
                if kids is not None:
                    state[kids.field] = by_parent.get(row[self.key], [])
                parse_timestamps(state, self._timestamps)
                states.append(self.model.model_validate(state))
            return states
        except (CopyTextError, ValidationError, UnicodeDecodeError, ValueError) as exc:
            raise SyncInputError(f"invalid {self.what} page: {exc}") from None

    def _bulk_or_plain(self, session: Session, states: list[S]) -> int:
        """On PostgreSQL ``merge`` (COPY into staging + one merge, which refuses a poison page
        itself), elsewhere ``plain``, its refusals as ``SyncInputError`` too."""
        if self.merge is not None and on_postgresql(session):
            return self.merge.write_states(session, states)
        with refused_rows_as_input_error(self.what):
            return self.plain(session, states)


def _text(part: str | bytes) -> str:
    return part.decode() if isinstance(part, bytes) else part


__all__ = [
    "AggregatePages",
    "newest_per_key",
    "on_postgresql",
    "refused_rows_as_input_error",
]
