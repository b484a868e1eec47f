"""`lint` beyond the schema: unreachable routes, overlaps, risky flags."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import httpx

from card_gateway.fake import MAX_SLOW_MS
from proxy.atomic_file import write_atomically
from proxy.config import RouteTable, load_route_table
from proxy.lint import Finding, lint_file, lint_table
from tests.proxy.harness import (
    Echo,
    dead_url,
    proxy_env,
    route,
    routes_yaml,
    running_proxy,
    upstream,
)
from tests.support.components import process_spec
from tests.support.processes import REPO_ROOT, VENV_BIN
from tests.support.waiting import wait_for

UPSTREAMS = {
    "monolith": {"url": "http://127.0.0.1:1"},
    "inventory": {"url": "http://127.0.0.1:2", "dry_run": True},
    "payments": {"url": "http://127.0.0.1:3"},
}


def findings(*routes: dict[str, Any]) -> list[Finding]:
    return lint_table(RouteTable.model_validate({"upstreams": UPSTREAMS, "routes": list(routes)}))


def messages(found: list[Finding], name: str) -> list[tuple[str, str]]:
    return [(f.severity, f.message) for f in found if f.route == name]


def test_default_route_file_is_clean() -> None:
    assert lint_file(Path("proxy/routes.default.yaml")) == []


def test_default_upstreams_that_charge_a_card_outlast_the_slowest_card() -> None:
    # The monolith's checkout charges in process or through the payments service, the orders
    # saga through the payments service: a proxy that gave up first would answer 504 for an
    # order that is placed and charged a moment later.
    table = load_route_table(REPO_ROOT / "proxy" / "routes.default.yaml")
    for name in ("monolith", "payments", "orders"):
        assert table.upstreams[name].timeout_s > MAX_SLOW_MS / 1000, name


def test_route_hidden_by_an_earlier_equal_rule_can_never_match() -> None:
    found = findings(
        route("first", match={"path_prefix": "/api/"}),
        route("second", match={"path_prefix": "/api/", "methods": ["GET"]}),
        route("exact-a", match={"path": "/api/x/", "methods": ["GET"]}),
        route("exact-b", match={"path": "/api/x/", "methods": ["POST"]}),
        route("exact-c", match={"path": "/api/x/", "methods": ["GET", "POST"]}),
    )
    second = messages(found, "second")
    assert second and second[0][0] == "error" and "never match" in second[0][1]
    exact_c = messages(found, "exact-c")
    assert exact_c[0][0] == "error" and "exact-a" in exact_c[0][1] and "exact-b" in exact_c[0][1]
    assert messages(found, "exact-b") == []  # different methods: both reachable


def test_partial_overlap_is_a_warning_naming_the_methods() -> None:
    found = findings(
        route("reads", match={"path_prefix": "/api/", "methods": ["GET", "HEAD"]}),
        route("mixed", match={"path_prefix": "/api/", "methods": ["GET", "POST"]}),
    )
    (severity, message), *_ = messages(found, "mixed")
    assert severity == "warning"
    assert "GET by 'reads'" in message and "POST" not in message


def test_longer_prefix_and_exact_path_are_not_hidden_by_a_shorter_prefix() -> None:
    found = findings(
        route("broad", match={"path_prefix": "/api/"}),
        route("narrow", match={"path_prefix": "/api/inventory/"}),
        route("exact", match={"path": "/api/inventory/products/"}),
    )
    assert found == []


def test_canary_at_the_ends_suggests_the_mode() -> None:
    found = findings(
        route("zero", mode="canary", target="inventory", percent=0),
        route("full", match={"path_prefix": "/b/"}, mode="canary", target="inventory", percent=100),
    )
    assert "mode monolith" in messages(found, "zero")[0][1]
    assert "mode extracted" in messages(found, "full")[0][1]


def test_shadowed_writes_without_dry_run_and_moved_writes_are_flagged() -> None:
    writes = {"path_prefix": "/api/", "methods": ["POST"]}
    found = findings(
        route("shadow-pay", match=writes, mode="shadow", target="payments"),
        route(
            "shadow-inv", match={**writes, "path_prefix": "/b/"}, mode="shadow", target="inventory"
        ),
        route(
            "moved", match={**writes, "path_prefix": "/c/"}, mode="extracted", target="inventory"
        ),
        route(
            "reads",
            match={"path_prefix": "/d/", "methods": ["GET"]},
            mode="extracted",
            target="inventory",
        ),
    )
    assert "skipped" in messages(found, "shadow-pay")[0][1]
    assert messages(found, "shadow-inv") == []  # its target honours dry runs
    assert "unsafe" in messages(found, "moved")[0][1]
    assert messages(found, "reads") == []


def test_internal_route_and_self_fallback() -> None:
    found = findings(
        route("internal", match={"path_prefix": "/internal/"}),
        route("selfish", mode="extracted", target="inventory", fallback="inventory"),
    )
    assert messages(found, "internal")[0][0] == "error"
    assert "target itself" in messages(found, "selfish")[0][1]


def test_lint_file_reports_a_schema_error_as_one_error(tmp_path: Path) -> None:
    bad = tmp_path / "routes.yaml"
    bad.write_text(routes_yaml({"inventory": {"url": "http://x"}}, []))
    (finding,) = lint_file(bad)
    assert finding.severity == "error" and "monolith" in finding.message


def test_patterns_and_header_matches_are_checked_for_shadowing() -> None:
    found = findings(
        route("any-order", match={"path_pattern": "/api/orders/{id}/"}),
        route("numbered", match={"path_pattern": "/api/orders/{n:[0-9]+}/"}),
        route("one-order", match={"path_pattern": "/api/orders/7/"}),
        route("cancel", match={"path_pattern": "/api/orders/{id}/cancel/"}),
        route("inner", match={"path_pattern": "/api/x{id}/"}),
        route("beta", match={"path_prefix": "/b/", "headers": {"X-Beta": "*"}}),
        route("beta-1", match={"path_prefix": "/b/", "headers": {"x-beta": "1", "X-Z": "2"}}),
        route("plain", match={"path_prefix": "/b/"}),
        route("pinned", match={"path_prefix": "/c/", "headers": {"X-Beta": "1"}}),
        route("loose", match={"path_prefix": "/c/", "headers": {"X-Beta": "*"}}),
    )
    # A placeholder covers any segment, so a later pattern of the same shape never matches.
    assert messages(found, "numbered")[0][0] == "error"
    assert "any-order" in messages(found, "one-order")[0][1]
    assert messages(found, "cancel") == []  # other shape
    assert messages(found, "inner") == []  # no claim about in-segment placeholders
    # "*" covers any value; a header route never hides the same prefix without headers.
    assert messages(found, "beta-1")[0][0] == "error" and "beta" in messages(found, "beta-1")[0][1]
    assert messages(found, "plain") == []
    assert messages(found, "pinned") == [] and messages(found, "loose") == []


def test_partial_method_overlap_of_patterns_is_a_warning() -> None:
    found = findings(
        route("reads", match={"path_pattern": "/o/{id}/", "methods": ["GET"]}),
        route("all", match={"path_pattern": "/o/{id}/", "methods": ["GET", "POST"]}),
    )
    assert messages(found, "all") == [
        ("warning", "overlaps an earlier route: GET by 'reads' never reach it")
    ]


def sync_table(sync: str, mode: str = "extracted") -> list[Finding]:
    ups = {**UPSTREAMS, "orders": {"url": "http://127.0.0.1:4", "sync": sync}}
    routes = [
        route(
            "writes",
            match={"path_prefix": "/o/", "methods": ["POST", "PATCH"]},
            mode=mode,
            target="orders",
            percent=50 if mode == "canary" else 0,
        ),
        route(
            "reads",
            match={"path_prefix": "/o/", "methods": ["GET"]},
            mode=mode,
            target="orders",
            percent=50 if mode == "canary" else 0,
        ),
    ]
    return lint_table(RouteTable.model_validate({"upstreams": ups, "routes": routes}))


def test_writes_to_a_service_still_fed_from_the_monolith_are_an_error() -> None:
    for mode in ("extracted", "canary"):
        (severity, message), *_ = messages(sync_table("from_monolith", mode), "writes")
        assert severity == "error" and "sync: from_monolith" in message and "PATCH, POST" in message
        assert messages(sync_table("from_monolith", mode), "reads") == []
    assert messages(sync_table("none"), "writes")[0][0] == "warning"
    assert messages(sync_table("to_monolith"), "writes") == []
    shadowed = messages(sync_table("from_monolith", "shadow"), "writes")  # dry-run copies only
    assert [severity for severity, _ in shadowed] == ["warning"] and "dry_run" in shadowed[0][1]


def test_a_read_your_writes_group_with_mixed_sticky_keys_is_a_warning() -> None:
    ryw = {"window_s": 5, "group": "inv"}
    found = findings(
        route("r", read_your_writes=ryw, sticky="header:X-Client-Id"),
        route("w", match={"path_prefix": "/api/", "methods": ["POST"]}, read_your_writes=ryw),
    )
    assert "mixes sticky keys" in messages(found, "r")[0][1]
    assert "mixes sticky keys" in messages(found, "w")[0][1]


def gated_table(monolith_url: str, inventory_url: str, writes_mode: str) -> str:
    """Writes of /api/ to ``writes_mode``; inventory is still fed from the monolith."""
    return routes_yaml(
        {
            "monolith": upstream(monolith_url),
            "inventory": upstream(inventory_url, sync="from_monolith"),
        },
        [
            route(
                "writes",
                match={"path_prefix": "/api/", "methods": ["POST"]},
                mode=writes_mode,
                target="inventory",
            ),
            route("reads", mode="extracted", target="inventory", percent=0),
        ],
    )


def test_a_file_with_lint_errors_is_refused_at_start(tmp_path: Path) -> None:
    routes = tmp_path / "routes.yaml"
    routes.write_text(gated_table(dead_url(), dead_url(), "extracted"))
    done = subprocess.run(
        process_spec("proxy").argv,
        env={**os.environ, **proxy_env(tmp_path, routes)},
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert "refused by lint" in line and "sync: from_monolith" in line


def test_lint_errors_are_refused_by_reload_the_admin_api_and_the_cli(
    tmp_path: Path, monolith: Echo, inventory: Echo
) -> None:
    with running_proxy(tmp_path, gated_table(monolith.url, inventory.url, "monolith")) as proxy:
        served = proxy.admin_json("/admin/routes")["digest"]
        # Reload: the file on disk is refused, the last good table keeps serving.
        write_atomically(proxy.routes_file, gated_table(monolith.url, inventory.url, "extracted"))
        state = wait_for(
            lambda: (r := proxy.admin_json("/admin/routes"))["last_error"] and r,
            message="the refusal",
        )
        assert "refused by lint" in state["last_error"] and state["digest"] == served
        assert httpx.post(f"{proxy.url}/api/x/").headers["X-Strangler-Upstream"] == "monolith"
        write_atomically(proxy.routes_file, gated_table(monolith.url, inventory.url, "monolith"))
        wait_for(lambda: proxy.admin_json("/admin/routes")["last_error"] is None, message="fixed")
        before = proxy.routes_file.read_bytes()

        # Admin API: 400, file byte-identical; a warning-only change is accepted and reported.
        refused = proxy.admin("PATCH", "/admin/routes/writes", json={"mode": "extracted"})
        assert refused.status_code == 400, refused.text
        assert "sync: from_monolith" in refused.json()["detail"]
        assert proxy.routes_file.read_bytes() == before
        warned = proxy.admin("PATCH", "/admin/routes/reads", json={"mode": "canary"})
        assert warned.status_code == 200, warned.text
        assert any("canary at 0%" in w for w in warned.json()["warnings"])

        # CLI: exit 1, one line, file unchanged.
        before = proxy.routes_file.read_bytes()
        done = subprocess.run(
            [
                str(VENV_BIN / "strangler"),
                "routes",
                "set",
                "writes",
                "--mode",
                "canary",
                "--percent",
                "5",
            ],
            env={
                **os.environ,
                "PROXY_ROUTES_FILE": str(proxy.routes_file),
                "STRANGLER_PROXY_ADMIN_URL": proxy.admin_url,
                "PROXY_ADMIN_TOKEN": proxy.token,
            },
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 1
        (line,) = done.stderr.strip().splitlines()
        assert "refused" in line and "sync: from_monolith" in line
        assert proxy.routes_file.read_bytes() == before
