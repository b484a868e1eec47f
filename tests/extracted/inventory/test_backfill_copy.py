"""The backfill's bulk path (COPY text pages of products, an aggregate without child rows)
applied by the owner's one applier (``AggregatePages``), on real PostgreSQL and on SQLite: what a
page writes, the checkpoint protocol, poison pages, and that live events are never overwritten by
older backfilled rows, even while both run at once."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from extracted.chassis.timefmt import as_utc
from extracted.chassis.web.db import make_engine, make_sessions
from extracted.inventory import migrate
from extracted.inventory.models import Product
from extracted.inventory.sync import (
    SyncInputError,
    apply_backfill_copy,
    apply_event,
    backfill_checkpoint,
)
from protocol.copy_text import PRODUCT_COPY_COLUMNS, decode_rows, encode_rows
from tests.extracted.inventory.factories import envelope, product_state
from tests.support.random_refs import random_suffix
from tests.support.waiting import wait_for


@pytest.fixture(params=["postgresql", "sqlite"])
def owner(request: pytest.FixtureRequest, tmp_path: Path) -> sessionmaker[Session]:
    """The inventory database on PostgreSQL (the COPY + merge path) and on SQLite (decode +
    upsert): the same page must do the same on both."""
    if request.param == "postgresql":
        url: str = request.getfixturevalue("inventory_url")
    else:
        url = f"sqlite:///{tmp_path / 'inventory.sqlite3'}"
        migrate.upgrade(url)
    engine = make_engine(url)
    request.addfinalizer(engine.dispose)
    return make_sessions(engine)


def page_of(states: list[dict[str, Any]]) -> str:
    """COPY text as the monolith's reader writes it on PostgreSQL ("+00" offsets)."""
    return encode_rows(
        [
            [
                *(s[c] for c in PRODUCT_COPY_COLUMNS[:6]),
                datetime.fromisoformat(s["created_at"]).strftime("%Y-%m-%d %H:%M:%S.%f+00"),
                datetime.fromisoformat(s["updated_at"]).strftime("%Y-%m-%d %H:%M:%S.%f+00"),
            ]
            for s in states
        ]
    )


def stored(sessions: sessionmaker[Session], sku: str) -> Product | None:
    with sessions() as session:
        return session.get(Product, sku)


def test_a_page_is_written_with_its_checkpoint_and_only_in_turn(
    owner: sessionmaker[Session],
) -> None:
    job = f"products-{random_suffix()}"
    tag = random_suffix()
    odd = {"name": "Tab\there, new\nline, back\\slash", "price": "0.50"}
    states = [product_state(sku=f"K{tag}-{i:03d}", version=2) for i in range(5)]
    states[2] = product_state(sku=f"K{tag}-002", version=2, **odd)
    first = apply_backfill_copy(
        job=job,
        page=page_of(states),
        after_key=None,
        last_key=states[-1]["sku"],
        done=False,
        sessions=owner,
    )
    assert first.taken and first.written == 5
    assert first.checkpoint.last_key == states[-1]["sku"] and first.checkpoint.rows == 5

    row = stored(owner, states[2]["sku"])
    assert row is not None and row.name == odd["name"] and str(row.price) == "0.50"
    assert as_utc(row.updated_at).isoformat() == states[2]["updated_at"].replace("Z", "+00:00")

    # The same page again (a copy in flight after a crash): not taken, nothing changes.
    again = apply_backfill_copy(
        job=job,
        page=page_of(states),
        after_key=None,
        last_key=states[-1]["sku"],
        done=False,
        sessions=owner,
    )
    assert not again.taken and again.checkpoint.rows == 5

    last = apply_backfill_copy(
        job=job,
        page="",
        after_key=states[-1]["sku"],
        last_key=states[-1]["sku"],
        done=True,
        sessions=owner,
    )
    assert last.taken and last.checkpoint.done and last.checkpoint.rows == 5
    assert backfill_checkpoint(job, sessions=owner) == last.checkpoint


def test_a_poison_page_changes_nothing(owner: sessionmaker[Session]) -> None:
    job = f"products-{random_suffix()}"
    good = product_state()
    bad = {**product_state(), "price": "not a price"}
    with pytest.raises(SyncInputError):
        apply_backfill_copy(
            job=job,
            page=page_of([good, bad]),
            after_key=None,
            last_key=bad["sku"],
            done=False,
            sessions=owner,
        )
    over = {**product_state(), "reserved": 5, "on_hand": 1}  # a check constraint refuses it
    with pytest.raises(SyncInputError):
        apply_backfill_copy(
            job=job,
            page=page_of([good, over]),
            after_key=None,
            last_key=over["sku"],
            done=False,
            sessions=owner,
        )
    with pytest.raises(SyncInputError):
        apply_backfill_copy(
            job=job, page="a\tb\n", after_key=None, last_key="a", done=False, sessions=owner
        )
    assert stored(owner, good["sku"]) is None
    assert backfill_checkpoint(job, sessions=owner) is None


def test_an_older_backfilled_row_never_overwrites_a_live_event(
    owner: sessionmaker[Session],
) -> None:
    job = f"products-{random_suffix()}"
    newer = product_state(version=5, name="from a live event")
    assert apply_event(envelope(newer), sessions=owner) == "applied"
    older = {**newer, "version": 3, "name": "stale backfill copy"}
    result = apply_backfill_copy(
        job=job,
        page=page_of([older]),
        after_key=None,
        last_key=older["sku"],
        done=True,
        sessions=owner,
    )
    assert result.taken and result.written == 0
    row = stored(owner, newer["sku"])
    assert row is not None and row.version == 5 and row.name == "from a live event"
    # ... and an event newer than a backfilled row still applies after it.
    fresh = product_state(version=1)
    apply_backfill_copy(
        job=f"{job}-b",
        page=page_of([fresh]),
        after_key=None,
        last_key=fresh["sku"],
        done=True,
        sessions=owner,
    )
    assert apply_event(envelope({**fresh, "version": 2, "name": "v2"}), sessions=owner) == "applied"
    row = stored(owner, fresh["sku"])
    assert row is not None and row.version == 2 and row.name == "v2"


def test_live_events_during_a_backfill_always_win(owner: sessionmaker[Session]) -> None:
    """A backfill of 300 rows at version 1 races events bringing every third row to version
    2..4 (delivered in shuffled order): whatever the interleaving, each row ends at its newest
    version and the backfill wrote the rest."""
    job = f"products-{random_suffix()}"
    tag = random_suffix()
    base = [product_state(sku=f"L{tag}-{i:04d}", version=1) for i in range(300)]
    live = [
        {**s, "version": v, "name": f"live v{v}", "on_hand": 100 * v}
        for s in base[::3]
        for v in (4, 2, 3)  # out of order: CAS keeps the newest
    ]
    pages = [base[i : i + 30] for i in range(0, len(base), 30)]
    start = threading.Barrier(2)
    failures: list[BaseException] = []

    def backfill() -> None:
        start.wait()
        after: str | None = None
        for number, page in enumerate(pages):
            apply_backfill_copy(
                job=job,
                page=page_of(page),
                after_key=after,
                last_key=page[-1]["sku"],
                done=number == len(pages) - 1,
                sessions=owner,
            )
            after = page[-1]["sku"]

    def events() -> None:
        start.wait()
        for state in live:
            apply_event(envelope(state), sessions=owner)

    def guarded(target: Any) -> None:
        try:
            target()
        except BaseException as exc:  # surfaced by the assertion below
            failures.append(exc)

    threads = [threading.Thread(target=guarded, args=(t,)) for t in (backfill, events)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures, failures

    with owner() as session:
        versions = dict(
            session.execute(
                select(Product.sku, Product.version).where(Product.sku.like(f"L{tag}-%"))
            ).all()
        )
        names = set(
            session.scalars(
                select(Product.name).where(Product.sku.like(f"L{tag}-%"), Product.version == 4)
            )
        )
        total = session.scalar(
            select(func.count()).select_from(Product).where(Product.sku.like(f"L{tag}-%"))
        )
    assert total == 300
    live_skus = {s["sku"] for s in base[::3]}
    assert {sku for sku, v in versions.items() if v == 4} == live_skus
    assert all(v == 1 for sku, v in versions.items() if sku not in live_skus)
    assert names == {"live v4"}
    checkpoint = backfill_checkpoint(job, sessions=owner)
    assert checkpoint is not None and checkpoint.done and checkpoint.rows == 300


def test_the_copy_text_round_trips_awkward_values() -> None:
    rows = [["a\\b", "tab\tnl\ncr\r", None, 1, 2, 3, "x", "y"]]
    decoded = decode_rows(encode_rows(rows), PRODUCT_COPY_COLUMNS)
    assert decoded == [
        dict(
            zip(
                PRODUCT_COPY_COLUMNS,
                ["a\\b", "tab\tnl\ncr\r", None, "1", "2", "3", "x", "y"],
                strict=True,
            )
        )
    ]


def test_a_row_inserted_while_the_page_is_copied_sends_it_through_the_merge(
    inventory_url: str, sessions: sessionmaker[Session]
) -> None:
    """The straight COPY of a page whose key range looked empty meets a row a live event
    inserted meanwhile (here: committed while the COPY waits on its key): the page falls back to
    the merge, and the event's newer version stays."""
    job = f"products-{random_suffix()}"
    tag = random_suffix()
    states = [product_state(sku=f"R{tag}-{i}", version=1) for i in range(5)]
    live = {**states[2], "version": 7, "name": "live"}
    with psycopg.connect(inventory_url) as event:
        event.execute(
            "INSERT INTO products (sku, name, price, on_hand, reserved, version, created_at, "
            "updated_at) VALUES (%s, %s, %s, %s, 0, %s, now(), now())",
            (live["sku"], live["name"], live["price"], live["on_hand"], live["version"]),
        )
        with ThreadPoolExecutor(1) as pool:
            applying = pool.submit(
                apply_backfill_copy,
                job=job,
                page=page_of(states),
                after_key=None,
                last_key=states[-1]["sku"],
                done=True,
                sessions=sessions,
            )

            def copy_waits_on_the_key() -> bool:
                with psycopg.connect(inventory_url, autocommit=True) as watcher:
                    row = watcher.execute(
                        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                        "AND query LIKE 'COPY products %%'"
                    ).fetchone()
                return bool(row and row[0])

            wait_for(copy_waits_on_the_key, message="the page's COPY to wait on the live row")
            event.commit()
            result = applying.result(timeout=60)
    assert result.taken and result.written == 4  # every row but the newer live one
    row = stored(sessions, live["sku"])
    assert row is not None and row.version == 7 and row.name == "live"
    assert all(stored(sessions, s["sku"]) is not None for s in states)
