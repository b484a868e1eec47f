"""The backfill's messages: what the CLI, the monolith's worker and each owner's worker send one
another by task name (``sync.task_names``), as the tasks' keyword arguments.

A job runs as chains of pages: a ``PageRequest`` asks the monolith for the keyset page after a
key; the monolith answers the job's owner with the page, as state dicts (``StatePage``) or as
COPY text (``CopyPage``); the owner asks for the next page. A ``SplitRequest`` asks the monolith
to cut a job into key ranges, and ``OpenRanges`` asks the owner to open them, one chain each.

On the wire every field is sent, except the optional ones named in ``_omitted_when_none``, which
are left out while they are None (``end_key``: a job in one range; a COPY page's ``page`` or
``page_ref``, whichever it does not use).
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

#: How a page travels: COPY text (the bulk path) or state dicts.
Wire = Literal["copy", "json"]


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    _omitted_when_none: ClassVar[frozenset[str]] = frozenset()

    def as_kwargs(self) -> dict[str, Any]:
        """The message as its task's keyword arguments."""
        unset = {name for name in self._omitted_when_none if getattr(self, name) is None}
        return self.model_dump(exclude=unset)


class PageRequest(_Message):
    """Ask the monolith for the page of ``job`` after ``after_key`` (``monolith.backfill_page``)."""

    _omitted_when_none = frozenset({"end_key"})

    job: str
    aggregate_type: str
    after_key: str | None
    page_size: int = Field(ge=1)
    #: The first page of a backfill started over: the owner takes it whatever its checkpoint says.
    restart: bool = False
    wire: Wire = "copy"
    #: The throttle of this chain (None: as fast as it goes).
    rows_per_s: float | None = None
    #: The inclusive end of the chain's key range (None: the job is not split, or the last range).
    end_key: str | None = None


class SplitRequest(_Message):
    """Ask the monolith to split ``job`` into ``parallel`` key ranges
    (``monolith.backfill_split``)."""

    job: str
    aggregate_type: str
    parallel: int = Field(ge=1)
    page_size: int = Field(ge=1)
    wire: Wire = "copy"
    #: The throttle of the whole job, all its chains together.
    rows_per_s: float | None = None


class OpenRanges(_Message):
    """Ask the job's owner to open the ranges the monolith split ``job`` into, one checkpoint and
    one chain each (``<capability>.open_backfill_ranges``)."""

    job: str
    aggregate_type: str
    #: The ranges' inclusive ends, in key order (the last range has none).
    ends: list[str]
    page_size: int
    wire: Wire = "copy"
    rows_per_s: float | None = None


class Page(_Message):
    """What every page of a job carries besides its rows, from the request it answers."""

    _omitted_when_none = frozenset({"end_key"})

    job: str
    aggregate_type: str
    page_size: int
    after_key: str | None = None
    restart: bool = False
    rows_per_s: float | None = None
    #: When the monolith read the page (``time.time()``), for the throttle's spacing.
    read_at: float | None = None
    end_key: str | None = None
    #: The page's last key (``after_key`` when it is empty): where the next page starts.
    last_key: str | None
    #: A short page is the last one of its chain.
    done: bool

    def next_request(self, wire: Wire) -> PageRequest:
        """The request for the page after this one, in the same chain."""
        return PageRequest(
            job=self.job,
            aggregate_type=self.aggregate_type,
            after_key=self.last_key,
            page_size=self.page_size,
            wire=wire,
            rows_per_s=self.rows_per_s,
            end_key=self.end_key,
        )


class StatePage(Page):
    """A page as state dicts (``<capability>.apply_backfill_batch``)."""

    rows: list[dict[str, Any]]


class CopyPage(Page):
    """A page as COPY text (``<capability>.apply_backfill_copy``): in the message (``page``) or,
    with a Redis broker, as the key of its bytes beside it (``page_ref``)."""

    _omitted_when_none = frozenset({"end_key", "page", "page_ref"})

    page: str | None = None
    page_ref: str | None = None
