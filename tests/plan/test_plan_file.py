"""The plan file: the shipped plan is valid and complete; broken plans are refused in one line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from migrations_plan.model import (
    DEFAULT_PLAN,
    BackfillDoneGate,
    BooksBalanceGate,
    ErrorRateGate,
    MonolithServedGate,
    Plan,
    PlanError,
    ReconcileDriftGate,
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


INVENTORY_STEPS = [
    "proxy-in-front",
    "backfill-and-sync",
    "shadow-reads",
    "canary-10",
    "canary-50",
    "canary-100",
    "extracted",
    "writes-extracted",
]
CAPABILITY_STEPS = [
    "backfill-and-sync",
    "shadow-reads",
    "dry-run-*",
    "canary",
    "reads-extracted",
    "writes-extracted",
]


def _flags_after_each_step(plan: Plan, route: str) -> list[dict[str, Any]]:
    flags: dict[str, Any] = {}
    seen: list[dict[str, Any]] = []
    for step in plan.steps:
        for action in step.actions:
            if isinstance(action, RouteAction) and action.route == route:
                flags.update(action.set)
        seen.append({k: v for k, v in flags.items() if v is not None})
    return seen


def test_the_shipped_plan_walks_every_capability_then_retires_the_monolith() -> None:
    plan = load_plan()
    assert plan.phases() == ["inventory", "payments", "orders", "retire", "cut-the-cord"]
    ids = [s.id for s in plan.steps]
    assert ids[:8] == INVENTORY_STEPS
    for capability, steps in (("payments", ids[8:14]), ("orders", ids[14:20])):
        assert [s.removeprefix(f"{capability}-") for s in steps][:2] == CAPABILITY_STEPS[:2]
        assert steps[2].startswith(f"{capability}-dry-run-")
        assert [s.removeprefix(f"{capability}-") for s in steps][3:] == CAPABILITY_STEPS[3:]
    assert ids[20:] == ["retire", "cut-the-cord"]

    reads = _flags_after_each_step(plan, "inventory-reads")
    assert [r.get("mode") for r in reads[:8]] == [
        "monolith", "monolith", "shadow", "canary", "canary", "canary", "extracted", "extracted"
    ]  # fmt: skip
    assert [r.get("percent") for r in reads[3:6]] == [10, 50, 100]
    # Reads, then writes as dry runs, then the writes' switch: for payments and orders alike.
    for capability, first in (("payments", 8), ("orders", 14)):
        reads = _flags_after_each_step(plan, f"{capability}-reads")
        writes = _flags_after_each_step(plan, f"{capability}-writes")
        assert [r["mode"] for r in reads[first : first + 6]] == [
            "monolith", "shadow", "shadow", "canary", "extracted", "extracted"
        ]  # fmt: skip
        assert [w["mode"] for w in writes[first : first + 6]] == [
            "monolith", "monolith", "shadow", "shadow", "shadow", "extracted"
        ]  # fmt: skip
    # Retired: every business route on its service, no read falls back to the monolith.
    for route in ("inventory-reads", "payments-reads", "orders-reads"):
        assert _flags_after_each_step(plan, route)[20] == {"mode": "extracted"}

    switches = [(s.id, a) for s in plan.steps for a in s.actions if isinstance(a, SyncAction)]
    assert [(step, a.sync, a.direction) for step, a in switches] == [
        ("writes-extracted", "inventory", "reverse"),
        ("payments-writes-extracted", "payments", "reverse"),
        ("orders-writes-extracted", "orders", "reverse"),
        # Cutting the cord retires every capability, each switched to reverse before.
        ("cut-the-cord", "inventory", "retired"),
        ("cut-the-cord", "payments", "retired"),
        ("cut-the-cord", "orders", "retired"),
    ]
    for step_id, action in switches[:3]:
        step = plan.find(step_id)
        assert SyncAction(sync=action.sync, direction="forward") in step.rollback
    assert rollback_problems(plan) == []
    for step in plan.steps[2:-1]:
        if step.actions:
            assert step.rollback, f"{step.id} changes flags and needs a rollback"

    kinds = {type(g) for s in plan.steps for g in s.gates}
    assert kinds == {
        ShadowParityGate,
        SyncBacklogGate,
        BackfillDoneGate,
        ErrorRateGate,
        ReverseBacklogGate,
        ReconcileDriftGate,
        BooksBalanceGate,
        MonolithServedGate,
    }
    # Checkouts are watched when payments' writes move, and so are the writes of each capability.
    for step_id, routes in (
        ("writes-extracted", {"inventory-writes", "orders-writes"}),
        ("payments-writes-extracted", {"payments-writes", "orders-writes"}),
        ("orders-writes-extracted", {"orders-writes"}),
    ):
        watched = {g.route for g in plan.find(step_id).gates if isinstance(g, ErrorRateGate)}
        assert watched == routes
    retire = plan.find("retire")
    served = [g for g in retire.gates if isinstance(g, MonolithServedGate)]
    assert len(served) == 1 and set(served[0].routes) == {
        f"{c}-{kind}" for c in ("inventory", "payments", "orders") for kind in ("reads", "writes")
    }
    assert served[0].max_requests == 0
    drift = [g for g in retire.gates if isinstance(g, ReconcileDriftGate)]
    assert [set(g.aggregates) for g in drift] == [
        {"products", "reservations", "payments", "orders"}
    ]
    last = plan.steps[-1]
    assert last.id == "cut-the-cord" and last.irreversible and last.cannot_undo
    assert not any(s.irreversible for s in plan.steps[:-1])


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


REVERSE = {"sync": "inventory", "direction": "reverse"}
FORWARD = {"sync": "inventory", "direction": "forward"}
RETIRE = {"sync": "inventory", "direction": "retired"}


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
        (
            [step_factory("a", gates=[{"kind": "reconcile_drift", "aggregates": ["shoes"]}])],
            "unknown aggregate(s) shoes",
        ),
        (
            [step_factory("a", gates=[{"kind": "monolith_served", "routes": []}])],
            "routes",
        ),
        (
            [step_factory("a", irreversible=True, cannot_undo=["x"]), step_factory("b")],
            "step 'a': an irreversible step must be the last",
        ),
        (
            [step_factory("a", irreversible=True)],
            "step 'a': an irreversible step lists cannot_undo",
        ),
        (
            [
                step_factory("a", actions=[route_action("monolith")]),
                step_factory(
                    "b",
                    irreversible=True,
                    cannot_undo=["x"],
                    actions=[route_action("shadow")],
                    rollback=[route_action("monolith")],
                ),
            ],
            "step 'b': an irreversible step has no rollback",
        ),
        (
            [step_factory("a", cannot_undo=["x"])],
            "step 'a': cannot_undo is for irreversible steps",
        ),
        (
            [
                step_factory("a", phase="one"),
                step_factory("b", phase="two"),
                step_factory("c", phase="one"),
            ],
            "step 'c': phase 'one' is split by another phase",
        ),
        (
            [
                step_factory("a", actions=[REVERSE], rollback=[FORWARD]),
                step_factory("b", actions=[RETIRE]),
            ],
            "step 'b': retiring inventory cannot be undone, so only an irreversible step may do it",
        ),
        (
            [step_factory("a", irreversible=True, cannot_undo=["x"], actions=[RETIRE])],
            "step 'a': inventory can be retired only once an earlier step switched it to reverse "
            "(it is forward there)",
        ),
        (
            [
                step_factory("a", actions=[REVERSE], rollback=[FORWARD]),
                step_factory("b", actions=[FORWARD], rollback=[REVERSE]),
                step_factory("c", irreversible=True, cannot_undo=["x"], actions=[RETIRE]),
            ],
            "step 'c': inventory can be retired only once an earlier step switched it to reverse "
            "(it is forward there)",
        ),
        (
            [step_factory("a", actions=[REVERSE], rollback=[FORWARD, RETIRE])],
            "step 'a': a rollback cannot retire inventory",
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
