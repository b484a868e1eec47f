"""The mismatch store on real databases: PostgreSQL (fresh per test) and a SQLite file."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from proxy.diffstore import DiffStore, Mismatch, MismatchFilter, engine_for
from tests.support.random_refs import random_suffix

T0 = datetime(2026, 1, 2, 3, 4, 5, 600000, tzinfo=UTC)


def mismatch(route: str, at: datetime, **overrides: object) -> Mismatch:
    values: dict[str, object] = {
        "route": route,
        "method": "GET",
        "path": f"/api/inventory/products/{random_suffix()}/",
        "query": "page=2",
        "request_headers": {"Accept": "application/json"},
        "request_body": b"",
        "expected_status": 200,
        "expected_headers": {"Content-Type": "application/json"},
        "expected_body": b'{"price": "12.50"}',
        "actual_status": 200,
        "actual_headers": {"Content-Type": "application/json"},
        "actual_body": b'{"price": "12.5"}',
        "differences": [
            {"where": "$.price", "kind": "changed", "expected": "12.50", "actual": "12.5"}
        ],
        "rules": {"ignore": [], "unordered": []},
        "at": at,
    }
    values.update(overrides)
    return Mismatch(**values)  # type: ignore[arg-type]


@pytest.fixture(params=["postgresql", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> DiffStore:
    url = (
        request.getfixturevalue("pg_url")
        if request.param == "postgresql"
        else f"sqlite:///{tmp_path / 'nested' / 'proxy.sqlite3'}"
    )
    diffs = DiffStore(url)
    diffs.create_schema()
    diffs.create_schema()  # idempotent: every start calls it
    request.addfinalizer(diffs.close)
    return diffs


def test_rows_round_trip(store: DiffStore) -> None:
    row = mismatch("reads", T0, request_body=b'{"caf\xc3\xa9": 1}', target="inv", sync_lag_s=1.5)
    store.add(row)
    page = store.list()
    assert (page.total, page.next_cursor) == (1, None)
    (stored,) = page.results
    assert stored["at"] == "2026-01-02T03:04:05.600000Z"
    assert (stored["route"], stored["method"], stored["path"]) == ("reads", "GET", row.path)
    assert (stored["query"], stored["target"], stored["sync_lag_s"]) == ("page=2", "inv", 1.5)
    assert stored["request"] == {"headers": {"Accept": "application/json"}, "body": '{"café": 1}'}
    assert stored["expected"]["body"] == '{"price": "12.50"}'
    assert stored["actual"] == {
        "status": 200,
        "headers": {"Content-Type": "application/json"},
        "body": '{"price": "12.5"}',
    }
    assert stored["differences"] == row.differences
    assert stored["rules"] == {"ignore": [], "unordered": []}


def count(store: DiffStore, **where: object) -> int:
    return store.list(MismatchFilter(**where)).total  # type: ignore[arg-type]


def test_filters_count_and_order(store: DiffStore) -> None:
    for minutes in range(5):
        store.add(mismatch("reads", T0 + timedelta(minutes=minutes)))
    store.add(mismatch("writes", T0 + timedelta(minutes=10)))
    page = store.list(MismatchFilter(route="reads"), limit=2)
    assert page.total == 5
    assert [r["at"] for r in page.results] == [
        "2026-01-02T03:08:05.600000Z",
        "2026-01-02T03:07:05.600000Z",
    ]
    since = T0 + timedelta(minutes=3)
    assert count(store, since=since) == 3  # reads at +3, +4 and the write at +10
    assert count(store, route="reads", since=since) == 2
    # A since in another zone means the same instant.
    other_zone = since.astimezone(ZoneInfo("Asia/Tokyo"))
    assert count(store, since=other_zone) == 3
    assert count(store, since=since, until=T0 + timedelta(minutes=10)) == 2  # until excluded
    assert count(store, until=T0) == 0
    assert store.list(MismatchFilter(route="nope")).results == []


def test_status_pair_and_path_filters(store: DiffStore) -> None:
    store.add(mismatch("reads", T0, path="/api/a/50%_off/", actual_status=500))
    store.add(mismatch("reads", T0, path="/api/a/500-off/", expected_status=404))
    store.add(mismatch("reads", T0, path="/api/b/x/"))
    assert count(store, expected_status=200, actual_status=500) == 1
    assert count(store, expected_status=200) == 2
    assert count(store, actual_status=200) == 2
    assert count(store, expected_status=404, actual_status=500) == 0
    assert count(store, path_contains="/api/a/") == 2
    # LIKE wildcards in the text are literal.
    assert count(store, path_contains="50%_") == 1
    assert count(store, path_contains="%") == 1
    assert count(store, path_contains="/API/") == 0


def test_cursor_pages_through_every_row_once(store: DiffStore) -> None:
    for n in range(7):
        store.add(mismatch("reads", T0 + timedelta(seconds=n), path=f"/api/row/{n}/"))
    store.add(mismatch("writes", T0, path="/api/other/"))
    seen: list[str] = []
    before = None
    while True:
        page = store.list(MismatchFilter(route="reads"), limit=3, before=before)
        assert page.total == 7
        seen.extend(row["path"] for row in page.results)
        if page.next_cursor is None:
            break
        before = page.next_cursor
    assert seen == [f"/api/row/{n}/" for n in reversed(range(7))]


def test_schema_of_the_first_version_is_migrated_in_place(pg_url: str, tmp_path: Path) -> None:
    for url in (pg_url, f"sqlite:///{tmp_path / 'old.sqlite3'}"):
        engine = engine_for(url)
        old = sa.MetaData()
        sa.Table(
            "proxy_shadow_mismatches",
            old,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("at", sa.DateTime(), nullable=False),
            sa.Column("route", sa.String(64), nullable=False),
            sa.Column("method", sa.String(16), nullable=False),
            sa.Column("path", sa.Text, nullable=False),
            sa.Column("request_headers", sa.JSON, nullable=False),
            sa.Column("request_body", sa.LargeBinary, nullable=False),
            sa.Column("expected_status", sa.Integer, nullable=False),
            sa.Column("expected_headers", sa.JSON, nullable=False),
            sa.Column("expected_body", sa.LargeBinary, nullable=False),
            sa.Column("actual_status", sa.Integer, nullable=False),
            sa.Column("actual_headers", sa.JSON, nullable=False),
            sa.Column("actual_body", sa.LargeBinary, nullable=False),
            sa.Column("differences", sa.JSON, nullable=False),
            sa.Column("rules", sa.JSON, nullable=False),
        )
        old.create_all(engine)
        with engine.begin() as conn:
            conn.execute(
                old.tables["proxy_shadow_mismatches"].insert().values(
                    at=T0.replace(tzinfo=None), route="reads", method="GET", path="/api/old/?p=1",
                    request_headers={}, request_body=b"", expected_status=200,
                    expected_headers={}, expected_body=b"{}", actual_status=500,
                    actual_headers={}, actual_body=b"", differences=[], rules={},
                )
            )  # fmt: skip
        engine.dispose()

        store = DiffStore(url)
        store.create_schema()
        store.create_schema()
        store.add(mismatch("reads", T0 + timedelta(seconds=1), sync_lag_s=0.25))
        newest, oldest = store.list().results
        assert (oldest["path"], oldest["query"], oldest["sync_lag_s"]) == (
            "/api/old/?p=1",
            "",
            None,
        )
        assert newest["sync_lag_s"] == 0.25
        store.close()
