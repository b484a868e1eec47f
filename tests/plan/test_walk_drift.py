"""The walker owns the route flags it set: a hand edit shows in `plan status`, and `plan next`
refuses it until told to adopt the table or to overwrite it."""

from __future__ import annotations

import hashlib

from proxy.config import load_route_table
from proxy.config_edit import read_audit, update_route
from tests.plan.conftest import PlanEnv
from tests.plan.test_walk import READS, fingerprint, walk_to

WRITES = "inventory-writes"


def flags(env: PlanEnv, route: str) -> tuple[str, float]:
    loaded = load_route_table(env.routes_file).route(route)
    return loaded.mode, loaded.percent


def test_a_hand_edit_shows_in_status_and_next_refuses_it_changing_nothing(
    plan_env: PlanEnv,
) -> None:
    walk_to(plan_env, "shadow-reads")
    update_route(plan_env.routes_file, READS, actor="someone", mode="canary", percent=20)
    before = fingerprint(plan_env)

    status = plan_env.plan("status")
    assert status.returncode == 0, status.stderr
    assert "inventory-reads.mode is 'canary', the walk set 'shadow'" in status.stdout
    assert "inventory-reads.percent is 20, the walk set None" in status.stdout

    plan_env.components.traffic(READS, requests=600, compared=300)
    done = plan_env.plan("next")
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1
    assert "differs from the flags the walk set" in done.stderr and "--adopt" in done.stderr
    assert fingerprint(plan_env) == before


def test_overwrite_writes_the_walks_flags_back_then_moves_on(plan_env: PlanEnv) -> None:
    walk_to(plan_env, "shadow-reads")
    update_route(plan_env.routes_file, READS, actor="someone", mode="monolith")
    plan_env.components.traffic(READS, requests=600, compared=300)

    done = plan_env.plan("next", "--overwrite")

    assert done.returncode == 0, done.stdout + done.stderr
    assert plan_env.state()["current"] == "canary-10"
    assert flags(plan_env, READS) == ("canary", 10)
    audit = read_audit(plan_env.routes_file, limit=3)
    overwrite = next(a for a in audit if a["after"] == {"mode": "shadow"})
    assert overwrite["actor"].startswith("plan:")
    commands = [entry["command"] for entry in plan_env.state()["history"]]
    assert commands[-2:] == ["overwrite", "next"]
    assert "differs" not in plan_env.plan("status").stdout


def test_adopt_keeps_the_hand_edit_as_the_walks_own(plan_env: PlanEnv) -> None:
    walk_to(plan_env, "shadow-reads")
    update_route(plan_env.routes_file, WRITES, actor="someone", mode="shadow")
    plan_env.components.traffic(READS, requests=600, compared=300)

    done = plan_env.plan("next", "--adopt")

    assert done.returncode == 0, done.stdout + done.stderr
    assert plan_env.state()["current"] == "canary-10"
    assert flags(plan_env, WRITES) == ("shadow", 0)  # the next step does not set it: kept
    assert plan_env.state()["owned_flags"][WRITES]["mode"] == "shadow"
    assert "differs" not in plan_env.plan("status").stdout
    assert [e["command"] for e in plan_env.state()["history"]][-2:] == ["adopt", "next"]


def test_adopt_and_overwrite_together_are_refused_in_one_line(plan_env: PlanEnv) -> None:
    walk_to(plan_env, "shadow-reads")
    update_route(plan_env.routes_file, READS, actor="someone", mode="monolith")
    routes = hashlib.sha256(plan_env.routes_file.read_bytes()).hexdigest()
    done = plan_env.plan("next", "--adopt", "--overwrite")
    assert done.returncode == 1
    assert done.stderr == "strangler plan: --adopt and --overwrite exclude each other: choose one\n"
    assert hashlib.sha256(plan_env.routes_file.read_bytes()).hexdigest() == routes


def test_a_walk_rolled_back_to_its_start_owns_nothing(plan_env: PlanEnv) -> None:
    walk_to(plan_env, "proxy-in-front")
    assert plan_env.plan("rollback").returncode == 0
    assert plan_env.state()["owned_flags"] == {}
    update_route(plan_env.routes_file, READS, actor="someone", mode="shadow")
    assert "differs" not in plan_env.plan("status").stdout
