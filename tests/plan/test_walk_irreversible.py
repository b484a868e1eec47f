"""A plan in phases ending with an irreversible step, walked by the real CLI: `plan status` says
where the walk stands in the whole, the last step needs --confirm and, once taken, neither
rollback nor reset can undo it. (`status` before a walk: tests/plan/test_walk.py.)"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from proxy.config import load_route_table
from tests.plan.conftest import PlanEnv

pytestmark = pytest.mark.slow

READS = "inventory-reads"


def _plan(folder: Path) -> Path:
    steps: list[dict[str, Any]] = [
        {
            "id": "shadow",
            "title": "Shadow",
            "phase": "reads",
            "page": "shadow.md",
            "actions": [{"route": READS, "set": {"mode": "shadow"}}],
            "rollback": [{"route": READS, "set": {"mode": "monolith"}}],
        },
        {
            "id": "extracted",
            "title": "Extracted",
            "phase": "reads",
            "page": "extracted.md",
            "actions": [{"route": READS, "set": {"mode": "extracted"}}],
            "rollback": [{"route": READS, "set": {"mode": "shadow"}}],
        },
        {
            "id": "cut",
            "title": "Cut the cord",
            "phase": "cut",
            "page": "cut.md",
            "irreversible": True,
            "cannot_undo": ["the monolith's copy goes stale", "nothing moves back"],
        },
    ]
    for step in steps:
        (folder / str(step["page"])).write_text(f"# {step['title']}\n")
    path = folder / "phased-plan.yaml"
    YAML().dump({"name": "phased", "title": "Phased", "steps": steps}, path)
    return path


def test_the_irreversible_step_needs_confirm_and_then_nothing_undoes_it(plan_env: PlanEnv) -> None:
    plan_env.plan_file = _plan(plan_env.tmp)
    for _ in range(2):
        assert plan_env.plan("next").returncode == 0
    status = plan_env.plan("status")
    assert status.returncode == 0, status.stderr
    assert (
        "Phase reads (1 of 2), step 2 of 2 in the phase; step 2 of 3 in the whole plan."
        in status.stdout
    )
    assert "IRREVERSIBLE Cut the cord" in status.stdout
    assert "cannot be undone (needs --confirm):" in status.stdout
    assert "the monolith's copy goes stale" in status.stdout
    state_before = plan_env.state_file.read_text()

    refused = plan_env.plan("next")
    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        "strangler plan: cut cannot be undone: the monolith's copy goes stale; nothing moves "
        "back. The gates pass; pass --confirm to take it"
    )
    assert plan_env.state_file.read_text() == state_before

    taken = plan_env.plan("next", "--confirm")
    assert taken.returncode == 0, taken.stderr
    assert plan_env.state()["current"] == "cut"

    rollback = plan_env.plan("rollback")
    assert rollback.returncode == 1
    assert "cut cannot be rolled back: the monolith's copy goes stale" in rollback.stderr
    reset = plan_env.plan("reset")
    assert reset.returncode == 1 and "reset --keep-flags" in reset.stderr
    assert plan_env.state()["current"] == "cut"
    assert load_route_table(plan_env.routes_file).route(READS).mode == "extracted"

    forgotten = plan_env.plan("reset", "--keep-flags")
    assert forgotten.returncode == 0, forgotten.stderr
    assert not plan_env.state_file.exists()
    assert load_route_table(plan_env.routes_file).route(READS).mode == "extracted"


def test_a_reset_that_would_move_a_retired_capability_changes_nothing(plan_env: PlanEnv) -> None:
    """A reset undoes each step's switch, newest first: one of a retired capability would be
    refused by its owners only after the switches before it had run, so the walker asks the
    owners of every switch first (here: payments would have moved, then inventory refused)."""
    steps: list[dict[str, Any]] = [
        {
            "id": capability,
            "title": capability,
            "page": f"{capability}.md",
            "actions": [{"sync": capability, "direction": "reverse"}],
            "rollback": [{"sync": capability, "direction": "forward"}],
        }
        for capability in ("inventory", "payments")
    ]
    for step in steps:
        (plan_env.tmp / str(step["page"])).write_text(f"# {step['title']}\n")
    plan_env.plan_file = plan_env.tmp / "switches.yaml"
    YAML().dump({"name": "switches", "title": "Switches", "steps": steps}, plan_env.plan_file)
    started = {"started_at": "2026-12-01T10:00:00+00:00"}
    plan_env.state_file.write_text(
        json.dumps(
            {
                "plan": "switches",
                "current": "payments",
                "steps": {"inventory": started, "payments": started},
            }
        )
    )
    plan_env.components.data["directions"] = {
        "inventory": {"monolith": "retired", "service": "retired"},
        "payments": {"monolith": "reverse", "service": "reverse"},
    }
    plan_env.components.save()
    for capability in ("inventory", "payments"):
        plan_env.overrides[f"STRANGLER_{capability.upper()}_URL"] = (
            f"{plan_env.url}/svc/{capability}"
        )
    state_before = plan_env.state_file.read_text()

    reset = plan_env.plan("reset")

    assert reset.returncode == 1
    assert reset.stderr.strip() == (
        "strangler plan: reset: inventory is retired (the cord is cut): it never moves to "
        "forward again; nothing changed"
    )
    assert plan_env.state_file.read_text() == state_before
