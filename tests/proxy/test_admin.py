"""The admin API on a real proxy process: auth, route listing, validated and audited flag
changes, stats, metrics."""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from contracts.process_status import STATUS_FILE_NAME, ProcessStatus, StackStatus
from proxy.config import CompareRules
from proxy.config_edit import read_audit
from tests.proxy.harness import Echo, route, routes_yaml, running_proxy, upstream


def table_text(monolith: Echo, inventory: Echo) -> str:
    return routes_yaml(
        {
            "monolith": upstream(monolith.url),
            "inventory": upstream(inventory.url, timeout_s=2, dry_run=True),
        },
        [
            route("reads", target="inventory", fallback="monolith", sticky="header:X-Client-Id"),
            route(
                "writes", match={"path_prefix": "/api/", "methods": ["POST"]}, target="inventory"
            ),
        ],
    )


def test_auth_is_required_except_health_and_metrics(
    tmp_path: Path, monolith: Echo, inventory: Echo
) -> None:
    with running_proxy(tmp_path, table_text(monolith, inventory)) as proxy:
        for path in ("/admin/routes", "/admin/stats", "/admin/mismatches", "/admin/audit"):
            assert httpx.get(f"{proxy.admin_url}{path}").status_code == 401
            wrong = httpx.get(f"{proxy.admin_url}{path}", headers={"Authorization": "Bearer nope"})
            assert wrong.status_code == 401
            assert wrong.json()["error"] == "unauthorized"
            assert proxy.admin("GET", path).status_code == 200
        patch = httpx.patch(f"{proxy.admin_url}/admin/routes/reads", json={"mode": "extracted"})
        assert patch.status_code == 401
        assert httpx.get(f"{proxy.admin_url}/health").json()["status"] == "ok"
        assert httpx.get(f"{proxy.admin_url}/metrics").status_code == 200


def test_token_is_generated_once_into_the_var_dir(
    tmp_path: Path, monolith: Echo, inventory: Echo
) -> None:
    with running_proxy(tmp_path, table_text(monolith, inventory), token="") as proxy:
        token = (tmp_path / "admin-token").read_text().strip()
        assert len(token) >= 32 and proxy.token == token
        assert proxy.admin("GET", "/admin/routes").status_code == 200
    with running_proxy(tmp_path, None, token="") as again:
        assert again.token == token


def test_routes_listing(tmp_path: Path, monolith: Echo, inventory: Echo) -> None:
    with running_proxy(tmp_path, table_text(monolith, inventory)) as proxy:
        body = proxy.admin_json("/admin/routes")
        assert body["digest"] == hashlib.sha256(proxy.routes_file.read_bytes()).hexdigest()
        assert body["file"] == str(proxy.routes_file)
        assert body["last_error"] is None and body["loaded_at"].endswith("Z")
        assert body["upstreams"]["inventory"] == {
            "url": inventory.url,
            "timeout_s": 2.0,
            "dry_run": True,
            "breaker": {"failures": 5, "cooldown_s": 5.0},
            "retry": {"attempts": 1, "budget_percent": 20.0, "min_concurrent": 3},
            "sync": "none",
        }
        assert body["routes"][0] == {
            "name": "reads",
            "match": {"path_prefix": "/api/", "methods": ["GET", "HEAD"]},
            "mode": "monolith",
            "target": "inventory",
            "percent": 0,
            "sticky": "header:X-Client-Id",
            "fallback": "monolith",
            "compare": CompareRules().model_dump(mode="json"),
            "read_your_writes": None,
        }


def test_patch_applies_reloads_and_audits(tmp_path: Path, monolith: Echo, inventory: Echo) -> None:
    with running_proxy(tmp_path, table_text(monolith, inventory)) as proxy:
        resp = proxy.admin(
            "PATCH",
            "/admin/routes/reads",
            json={"mode": "canary", "percent": 100},
            headers={"X-Actor": "alice"},
        )
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert (body["route"]["mode"], body["route"]["percent"]) == ("canary", 100)
        assert body["digest"] == hashlib.sha256(proxy.routes_file.read_bytes()).hexdigest()
        # Applied at once: the very next request sees it.
        assert httpx.get(f"{proxy.url}/api/x/").headers["X-Strangler-Upstream"] == "inventory"
        assert "mode: canary" in proxy.routes_file.read_text()

        (record,) = read_audit(proxy.routes_file)
        assert record["actor"] == "alice" and record["route"] == "reads"
        assert record["after"] == {"mode": "canary", "percent": 100}
        (listed,) = proxy.admin_json("/admin/audit")["results"]
        assert listed == record

        proxy.admin("PATCH", "/admin/routes/reads", json={"mode": "monolith"})
        audit = proxy.admin_json("/admin/audit?limit=1")["results"]
        assert len(audit) == 1 and audit[0]["actor"] == "admin-api"


def test_invalid_patch_is_400_and_changes_nothing(
    tmp_path: Path, monolith: Echo, inventory: Echo
) -> None:
    with running_proxy(tmp_path, table_text(monolith, inventory)) as proxy:
        original = proxy.routes_file.read_bytes()
        cases = [
            ({"percent": 150}, "invalid_config"),
            ({"mode": "sideways"}, "invalid_config"),
            ({"target": "nowhere"}, "invalid_config"),
            ({"match": {"path": "/x"}}, "invalid_config"),
            ({}, "invalid_config"),
            ([1, 2], "invalid_config"),
        ]
        for payload, code in cases:
            resp = proxy.admin("PATCH", "/admin/routes/reads", json=payload)
            assert resp.status_code == 400, payload
            assert resp.json()["error"] == code and resp.json()["detail"]
        malformed = proxy.admin("PATCH", "/admin/routes/reads", content=b"{not json")
        assert (malformed.status_code, malformed.json()["error"]) == (400, "malformed_request")
        unknown = proxy.admin("PATCH", "/admin/routes/nope", json={"mode": "shadow"})
        assert (unknown.status_code, unknown.json()["error"]) == (404, "not_found")
        assert proxy.routes_file.read_bytes() == original
        assert proxy.admin_json("/admin/audit")["results"] == []


def test_stats_and_metrics_count_requests(tmp_path: Path, monolith: Echo, inventory: Echo) -> None:
    with running_proxy(tmp_path, table_text(monolith, inventory)) as proxy:
        stats = proxy.admin_json("/admin/stats")
        assert stats["since"].endswith("Z")
        assert stats["routes"]["reads"]["requests"] == {}
        for _ in range(3):
            httpx.get(f"{proxy.url}/api/x/")
        httpx.post(f"{proxy.url}/api/x/", json={}, headers={"X-Echo-Status": "500"})
        routes = proxy.admin_json("/admin/stats")["routes"]
        assert routes["reads"]["requests"] == {"monolith": 3}
        assert routes["writes"]["requests"] == {"monolith": 1}
        assert routes["writes"]["errors"] == 1
        assert routes["reads"]["shadow"] == {
            "compared": 0,
            "mismatched": 0,
            "dropped": 0,
            "skipped": 0,
        }
        assert routes["reads"]["recent_mismatch_ratio"] is None  # nothing compared yet
        text = httpx.get(f"{proxy.admin_url}/metrics").text
        assert (
            'strangler_proxy_requests_total{mode="monolith",route="reads",status_class="2xx",'
            'upstream="monolith"} 3.0'
        ) in text
        assert (
            'strangler_proxy_request_duration_seconds_count{mode="monolith",route="reads",'
            'upstream="monolith"} 3.0' in text
        )
        assert 'strangler_proxy_upstream_errors_total{kind="5xx",upstream="monolith"} 1.0' in text


def test_processes_shows_the_supervisors_status_file(
    tmp_path: Path, monolith: Echo, inventory: Echo
) -> None:
    with running_proxy(tmp_path, table_text(monolith, inventory)) as proxy:
        assert httpx.get(f"{proxy.admin_url}/admin/processes").status_code == 401
        absent = proxy.admin("GET", "/admin/processes")
        assert absent.status_code == 404 and absent.json()["error"] == "not_supervised"

        started = datetime.now(UTC) - timedelta(seconds=90)
        status = StackStatus(
            supervisor_pid=os.getpid(),
            updated_at=datetime.now(UTC),
            processes=[
                ProcessStatus(
                    name="inventory",
                    state="up",
                    pid=4242,
                    restarts=2,
                    last_exit=-9,
                    started_at=started,
                ),
                ProcessStatus(
                    name="relay", state="down", pid=None, restarts=1, last_exit=1, started_at=None
                ),
            ],
        )
        (tmp_path / STATUS_FILE_NAME).write_text(status.model_dump_json())
        body = proxy.admin_json("/admin/processes")
        assert body["supervisor"] == {"pid": os.getpid(), "running": True}
        inventory_row, relay_row = body["processes"]
        assert inventory_row["name"] == "inventory" and inventory_row["state"] == "up"
        assert (inventory_row["pid"], inventory_row["restarts"]) == (4242, 2)
        assert inventory_row["last_exit_text"] == "killed by SIGKILL"
        assert 90 <= inventory_row["uptime_s"] < 90 + 60
        assert relay_row["state"] == "down" and relay_row["uptime_s"] is None
        assert (relay_row["last_exit"], relay_row["last_exit_text"]) == (1, "exit 1")

        (tmp_path / STATUS_FILE_NAME).write_text("{not json")
        broken = proxy.admin("GET", "/admin/processes")
        assert broken.status_code == 404 and "not a process status file" in broken.json()["detail"]
