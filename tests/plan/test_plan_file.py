"""The plan file: the shipped plan is valid and complete; broken plans are refused in one line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from migrations_plan.model import (
    DEFAULT_PLAN,
    BackfillDoneGate,
    ErrorRateGate,
    PlanError,
    ReverseBacklogGate,
    RouteAction,
    ShadowParityGate,
    SyncAction,
    SyncBacklogGate,
    load_plan,
    page_text,
    rollback_problems,
)
from tests.plan.conftest import PlanEnv

PAGE_SECTIONS = (
    "## What happens",
    "## What to watch",
    "## What can go wrong",
    "## How to roll back",
)


def test_the_shipped_plan_walks_inventory_reads_then_writes_to_extracted() -> None:
    plan = load_plan()
    assert [s.id for s in plan.steps] == [
        "proxy-in-front",
        "backfill-and-sync",
        "shadow-reads",
        "canary-10",
        "canary-50",
        "canary-100",
        "extracted",
        "writes-extracted",
    ]
    reads: dict[str, Any] = {}
    seen: list[dict[str, Any]] = []
    for step in plan.steps:
        for action in step.actions:
            if isinstance(action, RouteAction) and action.route == "inventory-reads":
                reads.update(action.set)
        seen.append({k: v for k, v in reads.items() if v is not None})
    assert seen == [
        {"mode": "monolith"},
        {"mode": "monolith"},
        {"mode": "shadow"},
        {"mode": "canary", "percent": 10},
        {"mode": "canary", "percent": 50},
        {"mode": "canary", "percent": 100},
        {"mode": "extracted"},
        {"mode": "extracted"},
    ]
    kinds = {type(g) for s in plan.steps for g in s.gates}
    assert kinds == {
        ShadowParityGate,
        SyncBacklogGate,
        BackfillDoneGate,
        ErrorRateGate,
        ReverseBacklogGate,
    }
    # Only the last step moves the writes, and its rollback switches them back.
    switches = [(s.id, a) for s in plan.steps for a in s.actions if isinstance(a, SyncAction)]
    assert [(step, a.sync, a.direction) for step, a in switches] == [
        ("writes-extracted", "inventory", "reverse")
    ]
    last = plan.steps[-1]
    assert SyncAction(sync="inventory", direction="forward") in last.rollback
    assert RouteAction(route="inventory-writes", set={"mode": "extracted"}) in last.actions
    assert rollback_problems(plan) == []
    for step in plan.steps[2:]:
        assert step.rollback, f"{step.id} changes flags and needs a rollback"


def test_every_step_page_is_a_workshop_page() -> None:
    plan = load_plan()
    for number, step in enumerate(plan.steps, 1):
        assert Path(step.page).name.startswith(f"{number:02d}-")
        text = page_text(DEFAULT_PLAN, step)
        assert text.startswith(f"# Step {number} ")
        for section in PAGE_SECTIONS:
            assert section in text, f"{step.page} lacks {section!r}"


def _write_plan(tmp_path: Path, steps: list[dict[str, Any]], **top: Any) -> Path:
    for step in steps:
        page = tmp_path / step.get("page", "")
        if step.get("page") and not page.exists():
            page.write_text(f"# {step['id']}\n")
    path = tmp_path / "plan.yaml"
    YAML().dump({"name": "demo", "title": "Demo plan", **top, "steps": steps}, path)
    return path


def step_factory(step_id: str, **fields: Any) -> dict[str, Any]:
    return {"id": step_id, "title": step_id.title(), "page": f"{step_id}.md", **fields}


def route_action(mode: str, **more: Any) -> dict[str, Any]:
    return {"route": "inventory-reads", "set": {"mode": mode, **more}}


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ([], "steps"),
        ([step_factory("a"), step_factory("a")], "duplicate step id 'a'"),
        ([step_factory("Bad Id")], "id"),
        ([step_factory("a", gates=[{"kind": "vibes"}])], "gates.0"),
        ([step_factory("a", gates=[{"kind": "sync_backlog", "max_pending": -1}])], "max_pending"),
        ([step_factory("a", actions=[{"route": "r", "set": {"match": "/x"}}])], "cannot set match"),
        ([step_factory("a", actions=[{"route": "r", "set": {}}])], "set at least one flag"),
        ([step_factory("a", surprise=1)], "surprise"),
        (
            [
                step_factory("a", actions=[route_action("monolith")]),
                step_factory(
                    "b",
                    actions=[route_action("shadow")],
                    rollback=[route_action("canary", percent=5)],
                ),
            ],
            "step 'b': rollback leaves inventory-reads.mode='canary', the previous step left "
            "'monolith'",
        ),
        (
            [step_factory("a", actions=[{"sync": "inventory", "direction": "reverse"}])],
            "step 'a': rollback must switch inventory back to forward",
        ),
        (
            [step_factory("a", actions=[{"sync": "shoes", "direction": "reverse"}])],
            "sync",
        ),
        (
            [
                step_factory(
                    "a",
                    actions=[{"sync": "inventory", "direction": "reverse", "drain_timeout_s": 0}],
                )
            ],
            "drain_timeout_s",
        ),
        (
            [step_factory("a", gates=[{"kind": "reverse_backlog", "max_dead_letters": -1}])],
            "max_dead_letters",
        ),
    ],
)
def test_a_broken_plan_is_refused(
    tmp_path: Path, steps: list[dict[str, Any]], message: str
) -> None:
    path = _write_plan(tmp_path, steps)
    with pytest.raises(PlanError) as caught:
        load_plan(path)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_missing_page_or_unreadable_plan_is_refused(tmp_path: Path) -> None:
    path = _write_plan(tmp_path, [step_factory("a")])
    (tmp_path / "a.md").unlink()
    with pytest.raises(PlanError, match=r"missing step page\(s\): a.md"):
        load_plan(path)
    with pytest.raises(PlanError, match="cannot read plan"):
        load_plan(tmp_path / "nope.yaml")
    path.write_text("steps: [unclosed")
    with pytest.raises(PlanError, match="not valid YAML"):
        load_plan(path)


def test_a_corrupted_plan_is_one_line_and_exit_1_from_every_command(plan_env: PlanEnv) -> None:
    bad = plan_env.tmp / "bad-plan.yaml"
    bad.write_text("name: demo\ntitle: x\nsteps: [{id: a, title: A, page: a.md, gates: [{kind: x}]")
    plan_env.plan_file = bad
    routes_before = plan_env.routes_file.read_bytes()
    for command in (["status"], ["next"], ["rollback"], ["reset"], ["show"], ["verify"]):
        done = plan_env.plan(*command)
        assert done.returncode == 1, (command, done.stdout, done.stderr)
        assert done.stderr.startswith("strangler plan: ")
        assert len(done.stderr.strip().splitlines()) == 1
    assert plan_env.routes_file.read_bytes() == routes_before
    assert not plan_env.state_file.exists()
