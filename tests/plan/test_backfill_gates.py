"""A ``backfill_done`` gate reads its job's checkpoint where the job's owner keeps it: products at
the inventory service, payments at the payments service, orders at the orders service (each a
real gate-endpoint server of its own, the walker a fresh CLI process)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from tests.plan.conftest import Components, PlanEnv
from tests.support.ports import free_port
from tests.support.processes import ServerProcess


@pytest.fixture
def payments(plan_env: PlanEnv) -> Iterator[Components]:
    """A second server answering as the payments service; the walker is pointed at it."""
    components = Components(plan_env.tmp / "payments.json")
    port = free_port()
    server = ServerProcess(
        "payments-gates",
        [sys.executable, "-m", "tests.plan.gate_server", str(port), str(components.file)],
        log_dir=plan_env.tmp,
    ).start()
    url = f"http://127.0.0.1:{port}"
    try:
        server.wait_http_ok(f"{url}/health")
        plan_env.overrides["STRANGLER_PAYMENTS_URL"] = url
        # No orders service answers at all.
        plan_env.overrides["STRANGLER_ORDERS_URL"] = f"http://127.0.0.1:{free_port()}"
        yield components
    finally:
        server.stop()


def _plan(folder: Path, jobs: list[str]) -> Path:
    (folder / "steps").mkdir(parents=True)
    (folder / "steps" / "backfill.md").write_text("# Backfill every capability\n")
    plan = {
        "name": "everything",
        "title": "Backfill every capability",
        "steps": [
            {
                "id": "backfill",
                "title": "Backfill",
                "page": "steps/backfill.md",
                "gates": [{"kind": "backfill_done", "job": job} for job in jobs],
            }
        ],
    }
    path = folder / "plan.yaml"
    YAML().dump(plan, path)
    return path


def _gate_lines(output: str) -> dict[str, str]:
    return {
        job: line
        for line in output.splitlines()
        for job in ("products", "payments", "orders")
        if f"backfill '{job}' done" in line
    }


def test_each_job_is_looked_for_at_its_owner(plan_env: PlanEnv, payments: Components) -> None:
    plan_env.plan_file = _plan(plan_env.tmp / "plan", ["products", "payments", "orders"])
    # The inventory server claims a done "payments" job: the gate must not look there.
    plan_env.components.backfill("products", done=True).backfill("payments", done=True)
    payments.backfill("payments", done=False, rows=40)
    entered = plan_env.plan("next")
    assert entered.returncode == 0, entered.stdout + entered.stderr

    verify = plan_env.plan("verify")
    assert verify.returncode == 1
    lines = _gate_lines(verify.stdout)
    assert "pass" in lines["products"]
    assert "FAIL" in lines["payments"] and "running, 40 rows" in lines["payments"]
    assert "FAIL" in lines["orders"] and "unavailable" in lines["orders"]
    assert "orders service unreachable" in verify.stdout

    payments.backfill("payments", done=True, rows=50)
    plan_env.plan_file = _plan(plan_env.tmp / "plan-2", ["products", "payments"])
    again = plan_env.plan("verify")
    assert again.returncode == 0, again.stdout
    assert "done, 50 rows" in _gate_lines(again.stdout)["payments"]
