"""Shadow mode on real processes: the monolith answers, the target gets a copy off the hot path,
mismatches are stored (SQLite and PostgreSQL) and listed through the admin API."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from proxy.config import CompareRules
from tests.proxy.harness import (
    Echo,
    echo_upstream,
    route,
    routes_yaml,
    running_proxy,
    upstream,
)
from tests.support.ports import free_port
from tests.support.processes import ServerProcess
from tests.support.random_refs import random_suffix
from tests.support.waiting import wait_for

LARGE_BYTES = 256 * 1024
BOTH = {"path_prefix": "/api/", "methods": ["GET", "HEAD", "POST"]}


@pytest.fixture(scope="module")
def twin_a(upstream_logs: Path) -> Iterator[Echo]:
    with echo_upstream("twin-a", upstream_logs, "--same") as echo:
        yield echo


@pytest.fixture(scope="module")
def twin_b(upstream_logs: Path) -> Iterator[Echo]:
    with echo_upstream("twin-b", upstream_logs, "--same") as echo:
        yield echo


@pytest.fixture(scope="module")
def slow(upstream_logs: Path) -> Iterator[Echo]:
    with echo_upstream("slow", upstream_logs, "--delay", "10") as echo:
        yield echo


def shadow_table(primary: Echo, target: Echo, **target_options: Any) -> str:
    return routes_yaml(
        {"monolith": upstream(primary.url), "target": upstream(target.url, **target_options)},
        [route("shadowed", match=BOTH, mode="shadow", target="target")],
    )


def test_mismatch_is_stored_and_listed(tmp_path: Path, monolith: Echo, inventory: Echo) -> None:
    # The two echo upstreams answer with their own names: every shadowed request differs.
    with running_proxy(tmp_path, shadow_table(monolith, inventory, dry_run=True)) as proxy:
        path = f"/api/items/{random_suffix()}/?page=2"
        resp = httpx.get(
            f"{proxy.url}{path}",
            headers={"Authorization": "Bearer very-secret", "Cookie": "s=also-secret"},
        )
        assert resp.json()["upstream"] == "monolith"
        assert resp.headers["X-Strangler-Upstream"] == "monolith"

        listed = wait_for(
            lambda: (
                proxy.admin_json("/admin/mismatches?route=shadowed")["count"] == 1
                and proxy.admin_json("/admin/mismatches?route=shadowed")
            ),
            message="the mismatch to be stored",
        )
        (row,) = listed["results"]
        assert (row["route"], row["method"]) == ("shadowed", "GET")
        assert f"{row['path']}?{row['query']}" == path
        assert (row["target"], row["sync_lag_s"]) == ("target", None)  # no lag source set
        assert {"where": "$.upstream", "kind": "changed"}.items() <= row["differences"][0].items()
        assert row["expected"]["status"] == row["actual"]["status"] == 200
        assert '"upstream": "monolith"' in row["expected"]["body"]
        assert '"upstream": "inventory"' in row["actual"]["body"]
        assert "secret" not in str(row["request"]["headers"])
        assert row["rules"] == CompareRules().model_dump(mode="json")
        # The target got the same request, Host and all.
        (copy,) = [r for r in inventory.seen() if r["raw_path"] == path]
        assert dict(copy["headers"])["Host"] == proxy.url.removeprefix("http://")

        stats = proxy.stats("shadowed")["shadow"]
        assert (stats["compared"], stats["mismatched"]) == (1, 1)
        assert proxy.admin_json("/admin/mismatches?route=other")["count"] == 0
        assert proxy.admin_json("/admin/mismatches?since=2999-01-01T00:00:00Z")["count"] == 0
        bad = proxy.admin("GET", "/admin/mismatches?since=yesterday")
        assert bad.status_code == 400


def test_equal_answers_are_compared_not_stored(tmp_path: Path, twin_a: Echo, twin_b: Echo) -> None:
    with running_proxy(tmp_path, shadow_table(twin_a, twin_b)) as proxy:
        for n in range(5):
            assert httpx.get(f"{proxy.url}/api/same/{n}/").status_code == 200
        wait_for(lambda: proxy.stats("shadowed")["shadow"]["compared"] == 5, message="5 compared")
        assert proxy.stats("shadowed")["shadow"]["mismatched"] == 0
        assert proxy.admin_json("/admin/mismatches")["count"] == 0


def test_writes_shadow_only_as_dry_runs(tmp_path: Path, monolith: Echo, inventory: Echo) -> None:
    dry = tmp_path / "dry"
    dry.mkdir()
    with running_proxy(dry, shadow_table(monolith, inventory, dry_run=True)) as proxy:
        path = f"/api/writes/{random_suffix()}/"
        resp = httpx.post(
            f"{proxy.url}{path}", json={"delta": 1}, headers={"X-Strangler-Dry-Run": "0"}
        )
        assert resp.status_code == 200
        copy = wait_for(
            lambda: [r for r in inventory.seen() if r["raw_path"] == path],
            message="the dry-run copy to reach the target",
        )
        assert [v for k, v in copy[0]["headers"] if k.lower() == "x-strangler-dry-run"] == ["1"]
        assert copy[0]["body"] == '{"delta":1}'
        (original,) = [r for r in monolith.seen() if r["raw_path"] == path]
        assert not any(k.lower() == "x-strangler-dry-run" for k, _ in original["headers"])

    live = tmp_path / "live"
    live.mkdir()
    with running_proxy(live, shadow_table(monolith, inventory, dry_run=False)) as proxy:
        path = f"/api/writes/{random_suffix()}/"
        assert httpx.post(f"{proxy.url}{path}", json={"delta": 1}).status_code == 200
        wait_for(lambda: proxy.stats("shadowed")["shadow"]["skipped"] == 1, message="skipped")
        metrics = httpx.get(f"{proxy.admin_url}/metrics").text
        assert (
            'strangler_proxy_shadow_skipped_total{reason="write_without_dry_run",'
            'route="shadowed"} 1.0'
        ) in metrics
        # A read after the write is shadowed; once it is compared, the write would have been too.
        httpx.get(f"{proxy.url}/api/after/")
        wait_for(lambda: proxy.stats("shadowed")["shadow"]["compared"] == 1, message="compared")
        assert path not in inventory.seen_paths()


def test_full_queue_drops_without_slowing_clients(
    tmp_path: Path, monolith: Echo, slow: Echo
) -> None:
    with running_proxy(
        tmp_path,
        shadow_table(monolith, slow, timeout_s=30),
        PROXY_SHADOW_QUEUE_SIZE="1",
        PROXY_SHADOW_WORKERS="1",
    ) as proxy:
        with httpx.Client(base_url=proxy.url, timeout=5) as client:  # below the target's delay
            answers = [client.get(f"/api/busy/{n}/") for n in range(8)]
        assert [r.status_code for r in answers] == [200] * 8
        assert {r.headers["X-Strangler-Upstream"] for r in answers} == {"monolith"}
        shadow = proxy.stats("shadowed")["shadow"]
        # One copy in flight, at most one waiting: the rest were dropped, and counted.
        assert shadow["dropped"] >= 6
        metrics = httpx.get(f"{proxy.admin_url}/metrics").text
        assert 'strangler_proxy_shadow_total{outcome="dropped",route="shadowed"}' in metrics
        dropped = 'strangler_proxy_shadow_skipped_total{reason="queue_full",route="shadowed"} '
        assert f"{dropped}{float(shadow['dropped'])}" in metrics


def test_mismatches_go_to_postgresql(
    tmp_path: Path, pg_url: str, monolith: Echo, inventory: Echo
) -> None:
    with running_proxy(
        tmp_path,
        shadow_table(monolith, inventory),
        PROXY_DIFF_DATABASE_URL=pg_url,
        PROXY_SHADOW_WORKERS="1",  # one sender: stored in request order
    ) as proxy:
        for n in range(3):
            httpx.get(f"{proxy.url}/api/pg/{n}/")
        listed = wait_for(
            lambda: (body := proxy.admin_json("/admin/mismatches?limit=2"))["count"] == 3 and body,
            message="three mismatches in PostgreSQL",
        )
        assert [r["path"] for r in listed["results"]] == ["/api/pg/2/", "/api/pg/1/"]
    assert not (tmp_path / "proxy.sqlite3").exists()


def test_large_answers_are_compared_off_the_event_loop(
    tmp_path: Path, monolith: Echo, inventory: Echo
) -> None:
    """Large answers (hundreds of KiB) are compared like small ones."""
    with running_proxy(tmp_path, shadow_table(monolith, inventory, dry_run=True)) as proxy:
        big = {"items": [{"n": n, "text": "x" * 40} for n in range(LARGE_BYTES // 40)]}
        path = f"/api/big/{random_suffix()}/"
        resp = httpx.post(f"{proxy.url}{path}", json=big)
        assert resp.status_code == 200 and len(resp.content) > LARGE_BYTES
        listed = wait_for(
            lambda: (body := proxy.admin_json("/admin/mismatches"))["count"] == 1 and body,
            message="the large mismatch",
        )
        (row,) = listed["results"]
        assert row["path"] == path
        wheres = [d["where"] for d in row["differences"]]
        # The names differ, and the copy carried one more header (the dry-run one) that the
        # echo reports back; the large body itself compared equal.
        assert "$.upstream" in wheres
        assert "X-Strangler-Dry-Run" in [d["actual"] for d in row["differences"]]
        assert not any(w.startswith("$.body") for w in wheres)


@pytest.fixture
def lag_source(upstream_logs: Path) -> Iterator[str]:
    port = free_port()
    argv = [sys.executable, "-m", "tests.proxy.lag_source", "--port", str(port)]
    with ServerProcess(f"lag-source-{port}", argv, log_dir=upstream_logs) as proc:
        url = f"http://127.0.0.1:{port}"
        proc.wait_http_ok(f"{url}/polls")
        yield url


def set_lag(source: str, **state: object) -> None:
    """Set the source's answer and wait until the proxy has read it twice since."""
    httpx.put(f"{source}/lag", json=state, timeout=5).raise_for_status()
    wait_for(
        lambda: httpx.get(f"{source}/polls", timeout=5).json()["polls"] >= 2,
        message="the proxy to poll the lag source",
    )


def test_each_mismatch_carries_the_sync_lag_of_its_moment(
    tmp_path: Path, monolith: Echo, inventory: Echo, lag_source: str
) -> None:
    with running_proxy(
        tmp_path,
        shadow_table(monolith, inventory),
        PROXY_SYNC_LAG_URL=f"{lag_source}/internal/outbox/stats",
        PROXY_SYNC_LAG_INTERVAL_S="0.1",
        PROXY_SHADOW_WORKERS="1",
    ) as proxy:
        run = random_suffix()
        lags: list[float | None] = []
        states: list[dict[str, object]] = [
            {"pending": 3, "oldest_pending_age_s": 4.5},
            {"pending": 0, "oldest_pending_age_s": None},  # caught up
            {"status": 503},  # the source fails: unknown
        ]
        for n, state in enumerate(states):
            set_lag(lag_source, **state)
            httpx.get(f"{proxy.url}/api/lag/{run}/{n}/?q={n}").raise_for_status()
            body = wait_for(
                lambda n=n: (  # type: ignore[misc]
                    (b := proxy.admin_json(f"/admin/mismatches?path={run}"))["count"] == n + 1 and b
                ),
                message=f"mismatch {n} stored",
            )
            newest = body["results"][0]
            assert (newest["path"], newest["query"]) == (f"/api/lag/{run}/{n}/", f"q={n}")
            lags.append(newest["sync_lag_s"])
        assert lags == [4.5, 0.0, None]


def test_mismatches_filter_and_page_through_the_admin_api(
    tmp_path: Path, monolith: Echo, inventory: Echo
) -> None:
    with running_proxy(
        tmp_path, shadow_table(monolith, inventory), PROXY_SHADOW_WORKERS="1"
    ) as proxy:
        run = random_suffix()
        for n in range(5):
            httpx.get(f"{proxy.url}/api/page/{run}/{n}/")
        httpx.get(f"{proxy.url}/api/other/{run}/", headers={"X-Echo-Status": "404"})
        wait_for(
            lambda: proxy.admin_json(f"/admin/mismatches?path={run}")["count"] == 6,
            message="six mismatches",
        )
        paths: list[str] = []
        cursor = ""
        while True:
            body = proxy.admin_json(f"/admin/mismatches?path=/api/page/{run}/&limit=2{cursor}")
            assert body["count"] == 5
            paths.extend(row["path"] for row in body["results"])
            if body["next_cursor"] is None:
                break
            cursor = f"&cursor={body['next_cursor']}"
        assert paths == [f"/api/page/{run}/{n}/" for n in reversed(range(5))]
        (not_found,) = proxy.admin_json(f"/admin/mismatches?status=404:*&path={run}")["results"]
        assert not_found["path"] == f"/api/other/{run}/"
        assert proxy.admin_json(f"/admin/mismatches?status=200:200&path={run}")["count"] == 5
        assert proxy.admin_json(f"/admin/mismatches?status=*:500&path={run}")["count"] == 0
        for bad, message in [
            ("status=ok", "status is EXPECTED:ACTUAL"),
            ("status=200:999", "status is EXPECTED:ACTUAL"),
            ("cursor=abc", "cursor must be"),
            ("until=soon", "until must be an ISO 8601"),
            ("limit=0", "limit must be"),
        ]:
            resp = proxy.admin("GET", f"/admin/mismatches?{bad}")
            assert resp.status_code == 400, bad
            assert resp.json()["error"] == "validation_error"
            assert message in resp.json()["detail"]
