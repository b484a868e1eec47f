"""The mismatch store on real databases: PostgreSQL (fresh per test) and a SQLite file."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from proxy.diffstore import DiffStore, Mismatch
from tests.support.random_refs import random_suffix

T0 = datetime(2026, 1, 2, 3, 4, 5, 600000, tzinfo=UTC)


def mismatch(route: str, at: datetime, **overrides: object) -> Mismatch:
    values: dict[str, object] = {
        "route": route,
        "method": "GET",
        "path": f"/api/inventory/products/{random_suffix()}/?page=2",
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
    row = mismatch("reads", T0, request_body=b'{"caf\xc3\xa9": 1}')
    store.add(row)
    total, (stored,) = store.list()
    assert total == 1
    assert stored["at"] == "2026-01-02T03:04:05.600000Z"
    assert (stored["route"], stored["method"], stored["path"]) == ("reads", "GET", row.path)
    assert stored["request"] == {"headers": {"Accept": "application/json"}, "body": '{"café": 1}'}
    assert stored["expected"]["body"] == '{"price": "12.50"}'
    assert stored["actual"] == {
        "status": 200,
        "headers": {"Content-Type": "application/json"},
        "body": '{"price": "12.5"}',
    }
    assert stored["differences"] == row.differences
    assert stored["rules"] == {"ignore": [], "unordered": []}


def test_filters_count_and_order(store: DiffStore) -> None:
    for minutes in range(5):
        store.add(mismatch("reads", T0 + timedelta(minutes=minutes)))
    store.add(mismatch("writes", T0 + timedelta(minutes=10)))
    total, rows = store.list(route="reads", limit=2)
    assert total == 5
    assert [r["at"] for r in rows] == ["2026-01-02T03:08:05.600000Z", "2026-01-02T03:07:05.600000Z"]
    since = T0 + timedelta(minutes=3)
    assert store.list(since=since)[0] == 3  # reads at +3, +4 and the write at +10
    assert store.list(route="reads", since=since)[0] == 2
    # A since in another zone means the same instant.
    other_zone = since.astimezone(ZoneInfo("Asia/Tokyo"))
    assert store.list(since=other_zone)[0] == 3
    assert store.list(route="nope") == (0, [])
