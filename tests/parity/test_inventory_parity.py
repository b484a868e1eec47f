"""Parity: the inventory scenario replayed against the real monolith and the real inventory
service (real processes, fresh PostgreSQL databases, the same rows) finds no difference.

The runner is the one behind `strangler compare` (proxy.scenario); when a step differs, the
failure message names the request and shows both bodies.
"""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

import httpx

from proxy.scenario import (
    Placeholders,
    Scenario,
    ScenarioReport,
    load_scenario,
    parse_scenario,
    run_scenario,
)
from tests.parity.sides import PRODUCTS, Sides, reservation_by_status
from tests.support.processes import REPO_ROOT, VENV_BIN

SCENARIO = REPO_ROOT / "proxy" / "scenarios" / "inventory.yaml"


def explain(report: ScenarioReport) -> str:
    """Every failing step: the request, what went wrong, and both answers in full."""
    parts = [f"{len(report.failed)} of {len(report.steps)} steps differ (run {report.run}):"]
    for step in report.failed:
        parts.append(f"\n--- {step.name}: {step.method} {step.path}")
        if step.request_body is not None:
            parts.append(f"request body: {step.request_body}")
        if step.expectation:
            parts.append(f"scenario: {step.expectation}")
        parts.extend(f"dry run: {problem}" for problem in step.dry_run_problems)
        parts.extend(
            f"{d.where} [{d.kind}] monolith={d.expected!r} service={d.actual!r}"
            for d in step.differences
        )
        parts.append(f"monolith {step.expected.status}: {step.expected.body.decode()}")
        parts.append(f"service  {step.actual.status}: {step.actual.body.decode()}")
    return "\n".join(parts)


def callers(sides: Sides) -> Placeholders:
    """The tokens the scenario's writes are sent with (``{env:COMPARE_STAFF_TOKEN}``, and the
    customer's ``{env:COMPARE_TOKEN}`` that is refused)."""
    return Placeholders(env=sides.payments_env)


def compare(sides: Sides, scenario: Scenario, **options: Any) -> ScenarioReport:
    return run_scenario(
        scenario,
        monolith_url=sides.monolith_url,
        target_url=sides.inventory_url,
        placeholders=callers(sides),
        **options,
    )


def test_the_inventory_scenario_finds_no_difference(sides: Sides) -> None:
    scenario = load_scenario(SCENARIO)
    report = compare(sides, scenario)
    assert report.ok, explain(report)
    # Not vacuous: the scenario reached every kind of answer the contract has.
    statuses = {step.expected.status for step in report.steps}
    assert statuses == {200, 201, 400, 401, 403, 404, 405, 409, 415}
    assert len(report.steps) == len(scenario.steps)


def _reservation_steps(sides: Sides) -> str:
    pending = reservation_by_status(sides, "pending")
    committed = reservation_by_status(sides, "committed")
    released = reservation_by_status(sides, "released")
    staff = "headers: {Authorization: 'Bearer {env:COMPARE_STAFF_TOKEN}'}"
    updated = f"compare: {{ignore: [$.updated_at]}}, {staff}"
    steps = [
        f"- {{name: 'get {r['status']} {r['id']}', path: /api/inventory/reservations/{r['id']}/}}"
        for r in sides.reservations
    ]
    steps += [
        f"- {{name: commit pending, method: POST, "
        f"path: /api/inventory/reservations/{pending['id']}/commit/, {updated}}}",
        f"- {{name: release pending, method: POST, body: {{ignored: true}}, "
        f"path: /api/inventory/reservations/{pending['id']}/release/, {updated}}}",
        f"- {{name: commit committed, method: POST, expect_status: 409, "
        f"path: /api/inventory/reservations/{committed['id']}/commit/, {staff}}}",
        f"- {{name: release committed, method: POST, expect_status: 409, "
        f"path: /api/inventory/reservations/{committed['id']}/release/, {staff}}}",
        f"- {{name: commit released, method: POST, expect_status: 409, "
        f"path: /api/inventory/reservations/{released['id']}/commit/, {staff}}}",
        "- {name: reserve for an order that has a reservation, method: POST, "
        f"expect_status: 409, path: /api/inventory/reservations/, {staff}, "
        f"body: {{order_id: '{released['order_id']}', lines: [{{sku: SKU-00002, quantity: 1}}]}}}}",
        "- {name: products after the seeded reservations, "
        "path: '/api/inventory/products/?page_size=500'}",
    ]
    return "\n".join(steps)


def test_the_seeded_reservations_answer_the_same(sides: Sides) -> None:
    scenario = parse_scenario(_reservation_steps(sides), source="seeded reservations")
    report = compare(sides, scenario)
    assert report.ok, explain(report)
    by_name = {step.name: step for step in report.steps}
    assert by_name["commit pending"].expected.status == 200
    assert json.loads(by_name["commit committed"].expected.body)["error"] == "invalid_state"
    products = json.loads(by_name["products after the seeded reservations"].expected.body)
    assert products["count"] == PRODUCTS
    assert any(row["reserved"] > 0 for row in products["results"])


def _snapshot(sides: Sides) -> dict[str, Any]:
    """Everything a comparison could have changed, as both sides show it."""
    snapshot: dict[str, Any] = {}
    for name, url in (("monolith", sides.monolith_url), ("service", sides.inventory_url)):
        with httpx.Client(base_url=url, timeout=10) as client:
            snapshot[name] = {
                "products": client.get("/api/inventory/products/?page_size=500").json(),
                "reservations": [
                    client.get(f"/api/inventory/reservations/{r['id']}/").json()
                    for r in sides.reservations
                ],
            }
    with httpx.Client(base_url=sides.monolith_url, timeout=10) as client:
        snapshot["outbox_total"] = client.get("/internal/outbox/stats").json()["total"]
    return snapshot


def test_a_comparison_changes_neither_database(sides: Sides) -> None:
    before = _snapshot(sides)
    assert before["monolith"]["products"]["count"] == PRODUCTS
    report = compare(sides, load_scenario(SCENARIO))
    report_again = compare(sides, parse_scenario(_reservation_steps(sides)))
    assert report.ok and report_again.ok
    assert _snapshot(sides) == before


def test_the_monolith_agrees_with_itself_under_the_scenarios_rules(sides: Sides) -> None:
    report = run_scenario(
        load_scenario(SCENARIO),
        monolith_url=sides.monolith_url,
        aa=True,
        placeholders=callers(sides),
    )
    assert report.ok, explain(report)
    assert report.proposed_ignores() == []
    # What differs by itself is exactly what the write steps ignore: the writer's timestamps.
    noisy = {d.where for step in report.steps for d in step.noise}
    assert noisy == {"$.id", "$.created_at", "$.updated_at"}


def test_strangler_compare_on_the_real_sides(sides: Sides, tmp_path: Any) -> None:
    report_path = tmp_path / "parity.json"
    done = subprocess.run(
        [
            str(VENV_BIN / "strangler"),
            "compare",
            str(SCENARIO),
            "--monolith",
            sides.monolith_url,
            "--target",
            sides.inventory_url,
            "--report",
            str(report_path),
        ],
        cwd=REPO_ROOT,
        env={**os.environ, **sides.payments_env},  # the tokens, as an operator exports them
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(report_path.read_text())
    assert report["ok"] is True
    assert report["summary"]["failed"] == 0
    assert report["summary"]["steps"] == len(load_scenario(SCENARIO).steps)
