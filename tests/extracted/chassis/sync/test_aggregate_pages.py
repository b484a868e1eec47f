"""The one backfill applier's refusals and choices that need no database: which key it pages by,
which pages it takes, and that a page naming a key twice keeps its newest version. What a page
writes is tested per service, on PostgreSQL and SQLite (tests/extracted/*/test_backfill_*.py)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel
from sqlalchemy import Column, MetaData, String, Table
from sqlalchemy.orm import Session

from extracted.chassis.sync.aggregate_pages import AggregatePages, newest_per_key
from extracted.chassis.sync.backfill_checkpoints import CheckpointStore
from extracted.chassis.sync.bulk_merge import AggregateMerge
from extracted.chassis.sync.subscriber import EventApplier, SyncInputError
from extracted.inventory.models import BackfillCheckpoint


class Widget(BaseModel):
    sku: str
    version: int


class Gadget(BaseModel):
    id: str
    version: int


def _nowhere() -> Any:
    raise AssertionError("a refused page never reaches the database")


def _never_written(session: Session, states: list[Any]) -> int:
    raise AssertionError("a refused page is never written")


EVENTS: EventApplier[Any] = EventApplier(
    processed=Table("processed", MetaData(), Column("event_id", String, primary_key=True)),
    states={"widget": Widget, "gadget": Gadget},
    write=lambda session, aggregate_type, state: True,
)
CHECKPOINTS = CheckpointStore(BackfillCheckpoint, _nowhere)


def pages(**options: Any) -> AggregatePages[Any]:
    return AggregatePages(
        checkpoints=CHECKPOINTS, events=EVENTS, plain=_never_written, what="widgets", **options
    )


def test_a_page_naming_a_key_twice_keeps_its_newest_version() -> None:
    states = [Widget(sku="a", version=1), Widget(sku="b", version=1), Widget(sku="a", version=3)]
    assert newest_per_key(states, "sku") == [Widget(sku="a", version=3), Widget(sku="b", version=1)]


def test_the_key_is_the_merges_or_named_when_there_is_no_merge() -> None:
    merged = pages(aggregate_type="widget", merge=AggregateMerge("widgets", ("sku",), "sku"))
    assert (merged.aggregate_type, merged.key) == ("widget", "sku")
    assert pages(aggregate_type="gadget", key="id").key == "id"
    with pytest.raises(ValueError, match="names its key"):
        pages(aggregate_type="gadget")


def test_an_aggregate_without_a_merge_takes_no_copy_text() -> None:
    with pytest.raises(SyncInputError, match="state dicts"):
        pages(aggregate_type="gadget", key="id").apply_copy(
            job="gadgets", page="g-1\t1\n", after_key=None, last_key="g-1", done=True
        )


@pytest.mark.parametrize(
    ("aggregate_type", "rows", "refusal"),
    [
        ("gadget", [{"id": "g-1", "version": 1}], "expected 'widget'"),
        ("gizmo", [{"sku": "a", "version": 1}], "unknown aggregate_type 'gizmo'"),
        ("widget", [{"sku": "a"}], "invalid widget rows"),
    ],
)
def test_a_page_of_another_aggregate_or_off_contract_is_refused_before_anything_is_written(
    aggregate_type: str, rows: list[dict[str, Any]], refusal: str
) -> None:
    with pytest.raises(SyncInputError, match=refusal):
        pages(aggregate_type="widget", key="sku").apply_batch(
            job="widgets",
            aggregate_type=aggregate_type,
            rows=rows,
            after_key=None,
            last_key="a",
            done=True,
        )
