"""`strangler plan` walking the shipped plan on a real route file, with gates read over HTTP from a
real server process, every command a fresh CLI process (only the files carry the walk)."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest

from contracts.sync_token import SYNC_TOKEN_ENV
from proxy.config import load_route_table
from proxy.config_edit import read_audit
from tests.plan.conftest import PlanEnv
from tests.support.ports import free_port
from tests.support.random_refs import random_suffix

pytestmark = pytest.mark.slow

READS = "inventory-reads"


def reads(env: PlanEnv) -> tuple[str, float]:
    route = load_route_table(env.routes_file).route(READS)
    return route.mode, route.percent


def fingerprint(env: PlanEnv) -> tuple[str, str | None]:
    routes = hashlib.sha256(env.routes_file.read_bytes()).hexdigest()
    state = env.state_file.read_text() if env.state_file.exists() else None
    return routes, state


def walk_to(env: PlanEnv, step_id: str) -> None:
    """``next`` until ``step_id`` is current, feeding the gates what each step needs."""
    env.components.all_healthy()
    for _ in range(10):
        state = env.state() if env.state_file.exists() else {"current": None}
        if state["current"] == step_id:
            return
        env.components.traffic(READS, requests=600, compared=300)
        done = env.plan("next")
        assert done.returncode == 0, done.stdout + done.stderr
    raise AssertionError(f"never reached {step_id}")


def test_status_before_the_walk_starts(plan_env: PlanEnv) -> None:
    done = plan_env.plan("status")
    assert done.returncode == 0, done.stderr
    assert "has not started" in done.stdout
    assert (
        "Not started: 22 steps in 5 phases (inventory, payments, orders, retire, cut-the-cord)."
        in done.stdout
    )
    assert "proxy-in-front" in done.stdout and "extracted" in done.stdout
    assert "sets inventory-reads: mode=monolith" in done.stdout
    assert not plan_env.state_file.exists()


def test_next_takes_the_first_step_and_records_it(plan_env: PlanEnv) -> None:
    plan_env.components.traffic(READS, requests=5)
    done = plan_env.plan("next")
    assert done.returncode == 0, done.stderr
    assert "Step 1:" in done.stdout
    state = plan_env.state()
    assert state["current"] == "proxy-in-front"
    assert state["history"][-1]["command"] == "next"
    assert state["history"][-1]["actor"].startswith("plan:")
    started = datetime.fromisoformat(state["steps"]["proxy-in-front"]["started_at"])
    assert abs(datetime.now(UTC) - started) < timedelta(minutes=5)
    # The error-rate gate of step 1 watches inventory-reads: its counters were taken as a baseline.
    assert state["steps"]["proxy-in-front"]["baseline"]["routes"][READS]["requests"] == 5
    assert reads(plan_env) == ("monolith", 0)

    status = plan_env.plan("status")
    assert status.returncode == 0
    assert "▶ current" in status.stdout and "error rate on inventory-reads" in status.stdout

    as_json = plan_env.plan("status", "--json")
    assert as_json.returncode == 0, as_json.stderr
    body = json.loads(as_json.stdout)
    assert body["current"] == {"number": 1, "id": "proxy-in-front"}
    assert [s["state"] for s in body["steps"][:2]] == ["current", "pending"]
    assert len(body["steps"]) == 22 and body["steps"][0]["started_at"] is not None
    assert body["gates"] and all(
        set(gate) == {"gate", "passed", "observed", "threshold", "reason"} for gate in body["gates"]
    )
    assert any("error rate on inventory-reads" in json.dumps(gate) for gate in body["gates"])
    assert body["next"]["id"] == body["steps"][1]["id"] and body["drift"] == []


def test_next_is_refused_while_gates_fail_and_changes_nothing(plan_env: PlanEnv) -> None:
    walk_to(plan_env, "backfill-and-sync")
    plan_env.components.backfill("products", done=False, rows=40).outbox(pending=120, oldest_s=3)
    before = fingerprint(plan_env)

    done = plan_env.plan("next")

    assert done.returncode == 1
    assert fingerprint(plan_env) == before
    failed = done.stderr.strip().splitlines()
    assert failed == [
        "gate failed: backfill 'products' done: observed running, 40 rows, needs done",
        "gate failed: sync backlog (inventory): ≤ 50 pending, oldest ≤ 10s: observed pending 120, "
        "oldest 3.0s, needs pending ≤ 50, oldest ≤ 10s",
    ]
    assert "FAIL" in done.stdout and "pass" in done.stdout  # the reservations backfill passed

    verify = plan_env.plan("verify")
    assert verify.returncode == 1 and fingerprint(plan_env) == before


def test_next_applies_the_flags_when_gates_pass_and_rollback_restores_them(
    plan_env: PlanEnv,
) -> None:
    walk_to(plan_env, "backfill-and-sync")
    assert plan_env.plan("verify").returncode == 0

    done = plan_env.plan("next")
    assert done.returncode == 0, done.stdout + done.stderr
    assert plan_env.state()["current"] == "shadow-reads"
    assert reads(plan_env) == ("shadow", 0)
    audit = read_audit(plan_env.routes_file, limit=1)[0]
    assert audit["route"] == READS and audit["after"] == {"mode": "shadow"}
    assert audit["actor"].startswith("plan:")

    comments = [line for line in plan_env.routes_file.read_text().splitlines() if "#" in line]
    rolled = plan_env.plan("rollback")
    assert rolled.returncode == 0, rolled.stderr
    assert reads(plan_env) == ("monolith", 0)
    assert plan_env.state()["current"] == "backfill-and-sync"
    assert "shadow-reads" not in plan_env.state()["steps"]
    assert [line for line in plan_env.routes_file.read_text().splitlines() if "#" in line] == (
        comments
    )


def test_shadow_parity_counts_from_the_step_start(plan_env: PlanEnv) -> None:
    walk_to(plan_env, "shadow-reads")  # baseline taken here
    plan_env.components.traffic(READS, compared=150)
    assert plan_env.plan("next").returncode == 1  # 150 compared since the start < 200

    plan_env.components.traffic(READS, compared=100)
    started = datetime.fromisoformat(plan_env.state()["steps"]["shadow-reads"]["started_at"])
    plan_env.components.mismatch(READS, started - timedelta(hours=1))  # before: not counted
    assert plan_env.plan("verify").returncode == 0

    plan_env.components.mismatch(READS, started + timedelta(seconds=1))
    refused = plan_env.plan("next")
    assert refused.returncode == 1
    assert "compared 250 since the step started, mismatches 1" in refused.stderr
    assert reads(plan_env) == ("shadow", 0)


def test_error_rate_needs_traffic_and_counts_from_a_restarted_proxy(plan_env: PlanEnv) -> None:
    walk_to(plan_env, "canary-10")
    assert reads(plan_env) == ("canary", 10)
    plan_env.components.traffic(READS, requests=100, errors=0)
    refused = plan_env.plan("next")
    assert refused.returncode == 1
    assert "0 errors in 100 requests (0.00%) since the step started" in refused.stderr

    plan_env.components.proxy_restarted().traffic(READS, requests=300, errors=30)
    refused = plan_env.plan("next")
    assert "30 errors in 300 requests (10.00%) since the proxy started" in refused.stderr

    plan_env.components.proxy_restarted().traffic(READS, requests=300, errors=1)
    assert plan_env.plan("next").returncode == 0
    assert reads(plan_env) == ("canary", 50)


def test_the_whole_plan_walks_to_extracted_and_reset_undoes_it(plan_env: PlanEnv) -> None:
    walk_to(plan_env, "extracted")
    assert reads(plan_env) == ("extracted", 0)
    route = load_route_table(plan_env.routes_file).route(READS)
    assert route.fallback == "monolith" and route.sticky == "header:X-Client-Id"
    history = [(h["from_step"], h["to_step"]) for h in plan_env.state()["history"]]
    assert history[0] == (None, "proxy-in-front") and history[-1] == ("canary-100", "extracted")

    # The next step switches the writes' direction; these fake components have no direction
    # endpoints, so the switch cannot start (it has a sync token, else it would not ask them at
    # all): one line, exit 1, nothing changed.
    plan_env.overrides[SYNC_TOKEN_ENV] = f"sync-{random_suffix()}"
    plan_env.components.traffic(READS, requests=600)
    routes_before = plan_env.routes_file.read_bytes()
    refused = plan_env.plan("next")
    assert refused.returncode == 1
    assert "step 'writes-extracted'" in refused.stderr and "answered 404" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    assert plan_env.state()["current"] == "extracted"
    assert plan_env.routes_file.read_bytes() == routes_before

    assert plan_env.plan("rollback").returncode == 0
    assert reads(plan_env) == ("canary", 100)

    reset = plan_env.plan("reset")
    assert reset.returncode == 0, reset.stderr
    assert "6 step(s) undone" in reset.stdout
    assert reads(plan_env) == ("monolith", 0)
    assert not plan_env.state_file.exists()
    assert "has not started" in plan_env.plan("status").stdout


def test_reset_can_keep_the_flags(plan_env: PlanEnv) -> None:
    walk_to(plan_env, "canary-10")
    done = plan_env.plan("reset", "--keep-flags")
    assert done.returncode == 0
    assert reads(plan_env) == ("canary", 10)
    assert not plan_env.state_file.exists()


def test_a_gate_whose_endpoint_is_down_fails_with_the_reason(plan_env: PlanEnv) -> None:
    walk_to(plan_env, "backfill-and-sync")
    dead = f"http://127.0.0.1:{free_port()}"
    plan_env.overrides = {"STRANGLER_INVENTORY_URL": dead, "STRANGLER_MONOLITH_URL": dead}
    before = fingerprint(plan_env)

    done = plan_env.plan("next")

    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 3
    assert all(
        "observed unavailable" in line and f"unreachable at {dead}" in line for line in lines
    )
    assert fingerprint(plan_env) == before


def test_a_bad_admin_token_fails_the_proxy_gates(plan_env: PlanEnv) -> None:
    walk_to(plan_env, "proxy-in-front")
    plan_env.overrides = {"PROXY_ADMIN_TOKEN": "wrong"}
    done = plan_env.plan("next")
    assert done.returncode == 1
    assert "proxy admin API answered 401" in done.stderr


def test_the_token_is_read_from_the_var_folder(plan_env: PlanEnv) -> None:
    walk_to(plan_env, "proxy-in-front")
    plan_env.components.traffic(READS, requests=20)
    (plan_env.var_dir / "admin-token").write_text(plan_env.components.token + "\n")
    plan_env.overrides = {"PROXY_ADMIN_TOKEN": ""}
    assert plan_env.plan("verify").returncode == 0


def test_a_corrupted_state_file_is_one_line_and_exit_1(plan_env: PlanEnv) -> None:
    walk_to(plan_env, "shadow-reads")
    for corrupt in ("{not json", '{"plan": "inventory", "current": "no-such-step"}', "[]"):
        plan_env.state_file.write_text(corrupt)
        before = fingerprint(plan_env)
        for command in ("status", "next", "rollback", "verify"):
            done = plan_env.plan(command)
            assert done.returncode == 1, (corrupt, command, done.stdout)
            assert len(done.stderr.strip().splitlines()) == 1
            assert "plan state" in done.stderr and "strangler plan reset" in done.stderr
            assert fingerprint(plan_env) == before

    recovered = plan_env.plan("reset")
    assert recovered.returncode == 0 and "unreadable plan state" in recovered.stdout
    assert reads(plan_env) == ("shadow", 0)  # nobody knows what was taken: flags left alone
    assert "has not started" in plan_env.plan("status").stdout


def test_a_route_file_that_refuses_the_change_changes_nothing(plan_env: PlanEnv) -> None:
    walk_to(plan_env, "backfill-and-sync")
    text = plan_env.routes_file.read_text().replace("name: inventory-reads", "name: reads-v2")
    plan_env.routes_file.write_text(text)
    before = fingerprint(plan_env)
    done = plan_env.plan("next")
    assert done.returncode == 1
    assert "route 'inventory-reads' is gone" in done.stderr
    assert fingerprint(plan_env) == before
    done = plan_env.plan("next", "--adopt")  # the walk lets go of the route, and needs it back
    assert done.returncode == 1
    assert "route 'inventory-reads' is not in" in done.stderr
    assert hashlib.sha256(plan_env.routes_file.read_bytes()).hexdigest() == before[0]


def test_rollback_before_the_walk_and_show(plan_env: PlanEnv) -> None:
    done = plan_env.plan("rollback")
    assert done.returncode == 1 and "nothing to roll back" in done.stderr

    page = plan_env.plan("show", "3")
    assert page.returncode == 0 and "Shadow the reads" in page.stdout
    assert "How to roll back" in plan_env.plan("show", "canary-50").stdout
    assert "Put the proxy in front" in plan_env.plan("show").stdout
    unknown = plan_env.plan("show", "nope")
    assert unknown.returncode == 1 and "no step 'nope'" in unknown.stderr
