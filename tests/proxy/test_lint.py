"""`lint` beyond the schema: unreachable routes, overlaps, risky flags."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from proxy.config import RouteTable
from proxy.lint import Finding, lint_file, lint_table
from tests.proxy.harness import route, routes_yaml

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
