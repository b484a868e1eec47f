"""One service's backfill of an aggregate with child rows (a payment and its refunds, an order and
its lines): its pages as they travel, applied by the owner inside the checkpoint protocol
(``extracted.chassis.backfill_checkpoints``), all or nothing with the checkpoint.

* **COPY text** (``apply_copy``, the bulk wire, protocol.copy_text: the rows, the mark, their
  child rows): on PostgreSQL both parts are ``COPY``ed into staging tables as they came and merged
  in one statement (``extracted.chassis.bulk_merge.AggregateMerge``); no Python object per row.
  On SQLite the text is decoded into the contract's states and takes the plain upsert.
* **State dicts** (``apply_batch``, ``--wire json``): validated as the contract's states, then
  ``COPY``ed into staging from Python on PostgreSQL (``AggregateMerge.write_states``), the plain
  upsert elsewhere (``extracted.chassis.backfill_pages``).

Either way versions decide: an aggregate is written only where the page's version is newer than
the stored one (or it is missing), and only then are its children replaced by the page's.
"""

from __future__ import annotations

import typing
from collections.abc import Callable
from datetime import datetime
from typing import Any, Generic

from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session, sessionmaker

from extracted.chassis.backfill_checkpoints import BatchResult, CheckpointStore
from extracted.chassis.backfill_pages import (
    S,
    StatePages,
    bulk_or_plain,
    newest_per_key,
    on_postgresql,
    refused_rows_as_input_error,
)
from extracted.chassis.bulk_merge import AggregateMerge
from extracted.chassis.subscriber import EventApplier, SyncInputError
from protocol.copy_text import (
    CopyTextError,
    count_rows,
    decode_rows,
    parse_timestamps,
    split_page,
)


def _datetime_fields(model: type[BaseModel]) -> set[str]:
    return {name for name, f in model.model_fields.items() if f.annotation is datetime}


class AggregatePages(Generic[S]):
    """The backfill of the one aggregate type ``events`` knows (its payload model is the
    page's state model): ``merge`` says how a page is merged on PostgreSQL (its columns, in the
    wire's order, are the state's fields), ``plain(session, states)`` how it is written
    elsewhere; ``what`` names the pages in refusals (``invalid payments page: ...``)."""

    def __init__(
        self,
        *,
        checkpoints: CheckpointStore,
        events: EventApplier[S],
        merge: AggregateMerge,
        plain: Callable[[Session, list[S]], int],
        what: str,
    ) -> None:
        ((self.aggregate_type, self.model),) = events.states.items()
        if merge.children is None:
            raise ValueError("AggregatePages is for aggregates with child rows")
        self.children = merge.children
        self.checkpoints = checkpoints
        self.merge = merge
        self.plain = plain
        self.what = what
        self._batches = StatePages(
            checkpoints=checkpoints,
            events=events,
            keys={self.aggregate_type: merge.key},
            write=bulk_or_plain(what, bulk=merge.write_states, plain=plain),
        )
        child_model = typing.get_args(self.model.model_fields[self.children.field].annotation)[0]
        self._timestamps = _datetime_fields(self.model)
        self._child_timestamps = _datetime_fields(child_model)

    def apply_batch(self, **page: Any) -> BatchResult:
        """A page of state dicts (``StatePages.apply``)."""
        return self._batches.apply(**page)

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
        rows, children = split_page(page)
        states: list[S] | None = None

        def write(session: Session) -> int:
            nonlocal states
            if on_postgresql(session):
                return self.merge.write_text(session, rows, children)
            if states is None:
                states = newest_per_key(self.decode(rows, children), self.merge.key)
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
        child rows; ``SyncInputError`` when it is not what the contract says."""
        kids = self.children
        try:
            parents = decode_rows(_text(rows), self.merge.columns)
            by_parent: dict[str | None, list[dict[str, Any]]] = {}
            for child in decode_rows(_text(children), kids.columns):
                parse_timestamps(child, self._child_timestamps)
                by_parent.setdefault(child.pop(kids.parent), []).append(child)
            states = []
            for row in parents:
                state: dict[str, Any] = {**row, kids.field: by_parent.get(row[self.merge.key], [])}
                parse_timestamps(state, self._timestamps)
                states.append(self.model.model_validate(state))
            return states
        except (CopyTextError, ValidationError, UnicodeDecodeError, ValueError) as exc:
            raise SyncInputError(f"invalid {self.what} page: {exc}") from None


def _text(part: str | bytes) -> str:
    return part.decode() if isinstance(part, bytes) else part


__all__ = ["AggregatePages"]
