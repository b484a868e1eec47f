"""Recorded traffic: a route's sampled live requests kept redacted in the diff store (newest N),
listed by the admin API, and replayed against both sides by `strangler compare --recorded`."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from proxy.headers import REDACTED
from proxy.recording import recorded_scenario, redacted_request
from proxy.scenario import ScenarioError
from tests.proxy.harness import Echo, echo_upstream, route, routes_yaml, running_proxy, upstream
from tests.support.processes import REPO_ROOT, VENV_BIN
from tests.support.waiting import wait_for

ROLLED_BACK = {"X-Echo-Respond-Header": "X-Strangler-Dry-Run: rolled-back"}


@pytest.fixture(scope="module")
def twin_a(upstream_logs: Path) -> Iterator[Echo]:
    with echo_upstream("twin-a", upstream_logs, "--same") as echo:
        yield echo


@pytest.fixture(scope="module")
def twin_b(upstream_logs: Path) -> Iterator[Echo]:
    with echo_upstream("twin-b", upstream_logs, "--same") as echo:
        yield echo


def test_only_what_is_safe_to_keep_is_kept() -> None:
    headers, body, kept = redacted_request(
        [("Authorization", "Bearer secret"), ("Cookie", "session=1"), ("X-Client-Id", "c1")],
        b'{"card_token": "tok_4242", "lines": [{"sku": "A", "password": "p"}], "n": 1}',
    )
    assert headers == [("Authorization", REDACTED), ("X-Client-Id", "c1")]
    assert json.loads(body) == {
        "card_token": REDACTED,
        "lines": [{"sku": "A", "password": REDACTED}],
        "n": 1,
    }
    assert kept
    assert redacted_request([], b"card=4242424242424242") == ([], b"", False)


def test_a_replay_sends_what_was_recorded_literally_with_the_operators_credentials() -> None:
    recording = {
        "id": 7,
        "method": "POST",
        "path": "/api/orders/",
        "query": "",
        "headers": [
            ["Authorization", REDACTED],
            ["Idempotency-Key", "k-1"],
            ["X-Strangler-Dry-Run", "0"],
            ["X-Client-Id", "{env:HOME}"],
        ],
        "body": json.dumps({"card_token": REDACTED, "note": "{env:HOME}"}),
    }
    scenario = recorded_scenario("orders", [recording], token="t0k", card_token="tok_visa")
    (step,) = scenario.steps
    assert step.literal and step.body == {"card_token": "tok_visa", "note": "{env:HOME}"}
    assert step.headers["Authorization"] == "Bearer t0k"
    assert step.headers["X-Client-Id"] == "{env:HOME}"
    assert step.headers["Idempotency-Key"] != "k-1"
    assert "X-Strangler-Dry-Run" not in step.headers
    with pytest.raises(ScenarioError, match="set COMPARE_TOKEN"):
        recorded_scenario("orders", [recording], token=None)


def test_the_newest_requests_are_kept_redacted_and_replay_against_both_sides(
    tmp_path: Path, twin_a: Echo, twin_b: Echo
) -> None:
    table = routes_yaml(
        {"monolith": upstream(twin_a.url), "twin": upstream(twin_b.url, dry_run=True)},
        [
            route(
                "orders",
                match={"path_prefix": "/api/rec/", "methods": ["GET", "POST"]},
                target="twin",
                record={"percent": 100, "max_requests": 3},
            )
        ],
    )
    with (
        running_proxy(tmp_path, table) as proxy,
        httpx.Client(base_url=proxy.url, timeout=10) as client,
    ):
        client.get("/api/rec/first/")
        client.get("/api/rec/second/", headers={"Cookie": "s=1"})
        client.get("/api/rec/a/?page=2", headers={"Authorization": "Bearer live-token"})
        client.post(
            "/api/rec/b/",
            json={"card_token": "tok_live", "note": "{env:HOME}"},
            headers={"Idempotency-Key": "live-key", **ROLLED_BACK},
        )
        client.post("/api/rec/c/", content=b"not json", headers=ROLLED_BACK)

        def kept() -> list[dict[str, Any]]:
            page = proxy.admin_json("/admin/recordings?route=orders")
            paths = [r["path"] for r in page["results"]]
            return list(page["results"]) if page["count"] == 3 and "/api/rec/c/" in paths else []

        recordings = wait_for(kept, message="the three newest requests recorded")
        assert [(r["method"], r["path"], r["query"]) for r in recordings] == [
            ("GET", "/api/rec/a/", "page=2"),
            ("POST", "/api/rec/b/", ""),
            ("POST", "/api/rec/c/", ""),
        ]
        get, post, opaque = recordings
        assert ["Authorization", REDACTED] in get["headers"]
        assert json.loads(str(post["body"])) == {"card_token": REDACTED, "note": "{env:HOME}"}
        assert (opaque["body"], opaque["body_kept"]) == ("", False)
        assert "live-token" not in json.dumps(recordings)
        assert proxy.admin("GET", "/admin/recordings").status_code == 400

        env = {
            **os.environ,
            "COLUMNS": "200",
            "COMPARE_TOKEN": "operator-token",
            "STRANGLER_PROXY_ADMIN_URL": proxy.admin_url,
            "PROXY_ADMIN_TOKEN": proxy.token,
        }
        compare = [str(VENV_BIN / "strangler"), "compare", "--recorded", "orders",
                   "--routes", str(proxy.routes_file), "--monolith", twin_a.url]  # fmt: skip
        aa = subprocess.run(
            [*compare, "--aa"], env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=60
        )
        assert aa.returncode == 0, aa.stdout + aa.stderr
        assert "A/A (monolith vs monolith)" in aa.stdout and "All 3 steps match." in aa.stdout
        assert not twin_b.seen() or all(r["raw_path"] != "/api/rec/c/" for r in twin_b.seen())
        before = len(twin_a.seen())
        done = subprocess.run(
            compare, env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=60
        )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "All 3 steps match." in done.stdout
    replayed = twin_a.seen()[before:]
    assert [r["raw_path"] for r in replayed] == ["/api/rec/a/?page=2", "/api/rec/b/", "/api/rec/c/"]
    assert dict(replayed[0]["headers"])["Authorization"] == "Bearer operator-token"
    sent = dict(replayed[1]["headers"])
    assert sent["X-Strangler-Dry-Run"] == "1" and "Authorization" not in sent
    assert sent["Idempotency-Key"] != "live-key"
    assert json.loads(replayed[1]["body"]) == {"card_token": "tok_visa", "note": "{env:HOME}"}
    assert replayed[2]["body"] == ""
    assert twin_b.seen()[-3:] and [r["raw_path"] for r in twin_b.seen()[-3:]] == [
        "/api/rec/a/?page=2", "/api/rec/b/", "/api/rec/c/",
    ]  # fmt: skip


def test_no_recordings_is_one_line_and_exit_2(tmp_path: Path, twin_a: Echo, twin_b: Echo) -> None:
    table = routes_yaml(
        {"monolith": upstream(twin_a.url), "twin": upstream(twin_b.url)},
        [route("quiet", target="twin")],
    )
    with running_proxy(tmp_path, table) as proxy:
        done = subprocess.run(
            [str(VENV_BIN / "strangler"), "compare", "--recorded", "quiet",
             "--routes", str(proxy.routes_file), "--monolith", twin_a.url],
            env={**os.environ, "STRANGLER_PROXY_ADMIN_URL": proxy.admin_url,
                 "PROXY_ADMIN_TOKEN": proxy.token},
            cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.startswith("strangler compare: no recorded requests for route 'quiet'")
    assert done.stderr.count("\n") == 1
