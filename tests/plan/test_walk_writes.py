"""Step 8 of the shipped plan (writes extracted + reverse sync) walked on real components: the
monolith and the inventory service on fresh PostgreSQL databases, the real proxy in front, Redis,
both Celery workers and both relays. Writes go through the proxy, as clients send them.

The step is taken from the shipped plan file as it is (only its drain timeout shortened), after a
one-step stand-in for steps 1-7 (reads extracted), and followed by the shipped cut-the-cord step
retiring inventory only (the capability this stack runs): the walk goes to step 8, back, to step
8 again, and cuts the cord."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from ruamel.yaml import YAML

from migrations_plan.model import DEFAULT_PLAN
from proxy.config import load_route_table
from strangler.stack import Ports, stack_environment, write_routes_file
from sync.control.direction import Owners, directions
from tests.support.callers import stack_staff_headers
from tests.support.components import free_ports, prepare, running
from tests.support.database_templates import fresh_owner_databases
from tests.support.inventory_api import (
    PRODUCTS,
    adjustment_body,
    adjustments_path,
    product_body,
    product_path,
)
from tests.support.processes import REPO_ROOT, VENV_BIN
from tests.support.random_refs import random_suffix
from tests.support.waiting import wait_for
from tests.sync.workers import wait_until_ready

pytestmark = pytest.mark.slow

WRITES = "inventory-writes"
SYNC_PROCESSES = ["worker-monolith", "worker-inventory", "relay", "relay-services"]


def _plan_file(folder: Path) -> Path:
    """The shipped step 8 after a stand-in step for the read extraction."""
    shipped = YAML(typ="safe").load(DEFAULT_PLAN.read_text(encoding="utf-8"))
    step8 = dict(next(s for s in shipped["steps"] if s["id"] == "writes-extracted"))
    step8["actions"] = [{**a, "drain_timeout_s": 3} if "sync" in a else a for a in step8["actions"]]
    cut = dict(next(s for s in shipped["steps"] if s["id"] == "cut-the-cord"))
    cut["actions"] = [a for a in cut["actions"] if a.get("sync") == "inventory"]
    (folder / "steps").mkdir(parents=True)
    for step in (step8, cut):
        (folder / step["page"]).write_text((DEFAULT_PLAN.parent / step["page"]).read_text())
    (folder / "steps" / "reads.md").write_text("# Step 1 — reads extracted\n")
    reads = {"route": "inventory-reads", "set": {"mode": "extracted"}}
    plan = {
        "name": "inventory",
        "title": "Step 8 after the reads",
        "steps": [
            {
                "id": "reads-extracted",
                "title": "Reads extracted",
                "page": "steps/reads.md",
                "actions": [reads],
                "rollback": [{"route": "inventory-reads", "set": {"mode": "monolith"}}],
            },
            step8,
            cut,
        ],
    }
    path = folder / "plan.yaml"
    YAML().dump(plan, path)
    return path


@dataclass
class WritesWalk:
    ports: Ports
    env: dict[str, str]
    logs: Path

    @property
    def proxy_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.proxy}"

    @property
    def owners(self) -> Owners:
        return Owners(
            "inventory", self.env["STRANGLER_MONOLITH_URL"], self.env["STRANGLER_INVENTORY_URL"]
        )

    def plan(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(VENV_BIN / "strangler"), "plan", *args],
            env={**self.env, "COLUMNS": "200"},
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def current(self) -> str | None:
        state = json.loads((Path(self.env["STRANGLER_VAR_DIR"]) / "plan-state.json").read_text())
        current: str | None = state["current"]
        return current

    def writes_mode(self) -> str:
        return load_route_table(Path(self.env["PROXY_ROUTES_FILE"])).route(WRITES).mode

    def directions(self) -> tuple[str, str]:
        with httpx.Client() as http:
            return directions(http, self.owners)

    def adjust(self, sku: str) -> str:
        """One write through the proxy; which upstream took it."""
        answer = httpx.post(
            f"{self.proxy_url}{adjustments_path(sku)}",
            json=adjustment_body(delta=1),
            headers=stack_staff_headers(self.env),
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
        return answer.headers["X-Strangler-Upstream"]

    def on_hand(self, base_url: str, sku: str) -> tuple[int, int]:
        body: dict[str, Any] = httpx.get(f"{base_url}{product_path(sku)}", timeout=10).json()
        return body["on_hand"], body["version"]

    def same_on_both(self, sku: str) -> bool:
        return self.on_hand(self.owners.monolith_url, sku) == self.on_hand(
            self.owners.service_url, sku
        )


@pytest.fixture
def walk(tmp_path: Path, redis_url: str, queue_prefix: str) -> Iterator[WritesWalk]:
    with ExitStack() as stack:
        var = tmp_path / "var"
        var.mkdir()
        ports = free_ports()
        routes_file = var / "routes.yaml"
        write_routes_file(routes_file, ports)
        base = {
            **os.environ,
            **stack.enter_context(fresh_owner_databases("walkw", migrated=True)),
            "STRANGLER_VAR_DIR": str(var),
            "PROXY_ROUTES_FILE": str(routes_file),
            "PROXY_ADMIN_TOKEN": f"walk-{random_suffix()}",
            "STRANGLER_SYNC_TOKEN": secrets.token_urlsafe(16),
            "STRANGLER_PLAN_FILE": str(_plan_file(tmp_path / "plan")),
            "CELERY_BROKER_URL": redis_url,
            "STRANGLER_QUEUE_PREFIX": queue_prefix,
        }
        env = stack_environment(ports, base=base)
        prepare(env, migrated=True)
        logs = tmp_path / "logs"
        stack.enter_context(
            running(["monolith", "inventory", "proxy"], ports=ports, env=env, log_dir=logs)
        )
        yield WritesWalk(ports, env, logs)


def test_step_8_moves_the_writes_with_a_drain_and_rolls_back(walk: WritesWalk) -> None:
    created = httpx.post(
        f"{walk.proxy_url}{PRODUCTS}",
        json=product_body(on_hand=100),
        headers=stack_staff_headers(walk.env),
        timeout=10,
    )
    assert created.status_code == 201
    sku = created.json()["sku"]
    assert walk.plan("next").returncode == 0  # the stand-in: reads extracted

    # No relay runs yet: the product's event is pending, the drain times out, nothing changes.
    refused = walk.plan("next")
    assert refused.returncode == 1
    assert "pending in the monolith's outbox" in refused.stderr, refused.stderr
    assert "nothing switched" in refused.stderr
    assert walk.current() == "reads-extracted"
    assert walk.directions() == ("forward", "forward")
    assert walk.writes_mode() == "monolith"
    assert walk.adjust(sku) == "monolith"

    with running(SYNC_PROCESSES, ports=walk.ports, env=walk.env, log_dir=walk.logs) as sync:
        for process in sync.values():  # consuming and listening, not just started
            wait_until_ready(process)
        moved = walk.plan("next")
        assert moved.returncode == 0, moved.stdout + moved.stderr
        assert "inventory: the service takes its writes" in moved.stdout  # the switch it ran
        assert walk.current() == "writes-extracted"
        assert walk.directions() == ("reverse", "reverse")
        assert walk.writes_mode() == "extracted"
        assert walk.adjust(sku) == "inventory"
        wait_for(lambda: walk.same_on_both(sku), timeout=30, message="the write flowed back")
        assert walk.on_hand(walk.owners.monolith_url, sku)[0] == 102

        # The gates: the reverse backlog is fine, the write route has not seen enough traffic.
        held = walk.plan("verify")
        assert held.returncode == 1
        assert "reverse backlog (inventory)" in held.stdout
        assert walk.current() == "writes-extracted"
        for _ in range(100):
            assert walk.adjust(sku) == "inventory"
        wait_for(lambda: walk.same_on_both(sku), timeout=30, message="the writes flowed back")
        passed = walk.plan("verify")
        assert passed.returncode == 0, passed.stdout

        rolled = walk.plan("rollback")
        assert rolled.returncode == 0, rolled.stdout + rolled.stderr
        assert "inventory: the monolith takes its writes again" in rolled.stdout
        assert walk.current() == "reads-extracted"
        assert walk.directions() == ("forward", "forward")
        assert walk.writes_mode() == "monolith"
        assert walk.adjust(sku) == "monolith"
        wait_for(lambda: walk.same_on_both(sku), timeout=30, message="forward sync again")
        assert walk.on_hand(walk.owners.service_url, sku)[0] == 203

        # Step 8 again, then the cord: refused without --confirm, taken with it.
        again = walk.plan("next")
        assert again.returncode == 0, again.stdout + again.stderr
        for _ in range(100):
            assert walk.adjust(sku) == "inventory"
        wait_for(lambda: walk.same_on_both(sku), timeout=30, message="the writes flowed back")
        unconfirmed = walk.plan("next")
        assert unconfirmed.returncode == 1
        assert "cut-the-cord cannot be undone" in unconfirmed.stderr
        assert walk.directions() == ("reverse", "reverse")
        cut = walk.plan("next", "--confirm")
        assert cut.returncode == 0, cut.stdout + cut.stderr
        assert "inventory: retired" in cut.stdout
        assert walk.current() == "cut-the-cord"
        assert walk.directions() == ("retired", "retired")
        _the_cord_is_cut(walk, sku)
        refused = walk.plan("rollback")
        assert refused.returncode == 1 and "cannot be rolled back" in refused.stderr
        assert walk.directions() == ("retired", "retired")


def _the_cord_is_cut(walk: WritesWalk, sku: str) -> None:
    """The service takes the writes and sends none back; the monolith refuses writes, in its
    API and in its database, and still serves reads."""
    monolith = walk.on_hand(walk.owners.monolith_url, sku)
    assert monolith == walk.on_hand(walk.owners.service_url, sku)  # drained before the freeze
    outbox = f"{walk.owners.service_url}/internal/sync/outbox?limit=1"
    sent_before = httpx.get(outbox, timeout=10).json()["recent_event_ids"]
    assert walk.adjust(sku) == "inventory"
    after = httpx.get(outbox, timeout=10).json()
    assert (after["pending"], after["recent_event_ids"]) == (0, sent_before)  # born skipped
    assert walk.on_hand(walk.owners.service_url, sku)[0] == monolith[0] + 1

    refused = httpx.post(
        f"{walk.owners.monolith_url}{adjustments_path(sku)}",
        json=adjustment_body(delta=1),
        headers=stack_staff_headers(walk.env),
    )
    assert refused.status_code == 503
    assert refused.json()["detail"] == (
        "Writes of inventory are read-only here for good: inventory is retired."
    )
    with (
        psycopg.connect(walk.env["DATABASE_URL"]) as conn,
        pytest.raises(psycopg.errors.ReadOnlySqlTransaction, match="inventory is retired"),
    ):
        conn.execute("UPDATE inventory_product SET on_hand = on_hand + 1")
    assert walk.on_hand(walk.owners.monolith_url, sku) == monolith
