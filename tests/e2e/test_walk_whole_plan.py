"""The whole plan walked on the whole stack (every process, PostgreSQL, Redis): inventory, payments
and orders extracted and their writes switched, the monolith retired, then every step rolled back
to the monolith, under steady mixed traffic from the workshop's generator (reads, stock
adjustments, card payments and checkouts over many client keys and customers).

The walk stops before cut-the-cord (irreversible; it is refused here without --confirm). The
shipped plan is walked with its gates' request counts divided by ``SCALE`` and the retire window
shortened: the same gates, sized for a test run rather than for a room of people.

Asserted: no client request fails, except 503 + Retry-After answers inside a direction switch's
freeze, each retried successfully and at most ``MAX_FROZEN_PER_SWITCH`` per switch; at the
retired end and back at the monolith, zero reconciliation drift on every aggregate, the books
balance and no event is dead-lettered anywhere.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from ruamel.yaml import YAML

from migrations_plan.gates import Endpoints, evaluate_gate
from migrations_plan.model import (
    DEFAULT_PLAN,
    BooksBalanceGate,
    ReconcileDriftGate,
    Step,
    SyncAction,
    load_plan,
)
from migrations_plan.settings import WalkerSettings
from migrations_plan.walker import Outcome, Walker
from strangler.stack import issue_tokens_step
from strangler.traffic import Mix, Tally, Workload, run_traffic
from tests.e2e.stack import Stack, running_stack
from tests.support.processes import REPO_ROOT
from tests.support.waiting import wait_for

#: 22 steps forward and 21 back, each waiting for its gates under traffic.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]

PRODUCTS = 60
SCALE = 10
RETIRE_WINDOW_S = 10
#: The steady traffic is two generators side by side. Readers read products SKU-00001..30 and
#: their own orders and payments, and never write; writers adjust stock, pay and check out on
#: SKU-00031..60 as other customers, and never read. So a shadowed read never races a write of
#: what it reads (that difference is sync lag, which a parity gate of 0 mismatches cannot tell
#: from a bug), while every write route and checkout carries traffic through every switch.
READ_SKUS = [f"SKU-{n:05d}" for n in range(1, 31)]
WRITE_SKUS = [f"SKU-{n:05d}" for n in range(31, PRODUCTS + 1)]
READ_RATE, WRITE_RATE = 15.0, 10.0
READS = Mix(read=1, write=0, checkout=0)
WRITES = Mix(read=0, write=3, checkout=3, payment=2)
#: The traffic runs in bounded runs of this many seconds, back to back, each tallied apart so
#: that frozen answers can be placed in time.
CHUNK_S = 2.0
MAX_FROZEN_PER_SWITCH = 10
#: A clean reconciliation run younger than this is not run again (the gates ask for 300 s).
FRESH_S = 120
#: Requests the proxy serves after each rollback before the next one (a second of the steady
#: traffic: reads, writes and checkouts through the table the rollback left).
ROLLED_BACK_REQUESTS = 25
#: How long a step may take to meet its gates under the steady traffic.
STEP_TIMEOUT_S = 240.0


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("whole"), redis_url, products=PRODUCTS) as s:
        yield s


def _test_plan(folder: Path) -> Path:
    """The shipped plan and its pages, gate counts divided by SCALE, the retire window short."""
    shipped = YAML(typ="safe").load(DEFAULT_PLAN.read_text(encoding="utf-8"))
    for step in shipped["steps"]:
        for gate in step.get("gates", []):
            for key in ("min_requests", "min_compared"):
                if key in gate:
                    gate[key] = gate[key] // SCALE
            if "min_window_s" in gate:
                gate["min_window_s"] = RETIRE_WINDOW_S
    shutil.copytree(DEFAULT_PLAN.parent / "steps", folder / "steps")
    path = folder / "plan.yaml"
    YAML().dump(shipped, path)
    return path


@dataclass
class Run:
    started: float
    ended: float
    tally: Tally


async def _side_by_side(readers: Workload, writers: Workload, seed: int) -> list[Tally]:
    return list(
        await asyncio.gather(
            run_traffic(readers, READS, rate=READ_RATE, duration_s=CHUNK_S, seed=seed),
            run_traffic(writers, WRITES, rate=WRITE_RATE, duration_s=CHUNK_S, seed=seed),
        )
    )


@dataclass
class SteadyTraffic:
    """The generator (strangler.traffic), readers and writers side by side, in back-to-back
    runs of CHUNK_S seconds until stopped."""

    readers: Workload
    writers: Workload
    runs: list[Run] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _loop(self) -> None:
        seed = 0
        while not self._stop.is_set():
            started = time.monotonic()
            for tally in asyncio.run(_side_by_side(self.readers, self.writers, seed)):
                self.runs.append(Run(started, time.monotonic(), tally))
            seed += 1

    def start(self) -> None:
        # A daemon: an interrupted test run must not wait for it at exit.
        self._thread = threading.Thread(target=self._loop, name="steady-traffic", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(timeout=120)

    def total(self, attribute: str) -> int:
        return sum(int(getattr(run.tally, attribute)) for run in self.runs)

    def frozen_during(self, start: float, end: float) -> int:
        """Frozen answers of the runs that overlapped ``[start, end]``."""
        return sum(r.tally.frozen for r in self.runs if r.started <= end and r.ended >= start)


def _tokens(stack: Stack, names: list[str], *, staff: bool) -> list[str]:
    argv = issue_tokens_step(names, staff=staff, ttl_s=7200)
    done = subprocess.run(argv, env=stack.env, cwd=REPO_ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    tokens = done.stdout.split()
    assert len(tokens) == len(names)
    return tokens


def _cli(stack: Stack, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "strangler.cli", *argv],
        env=stack.env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _proxy_requests(stack: Stack) -> int:
    routes = stack.admin("/admin/stats")["routes"]
    return sum(sum(entry["requests"].values()) for entry in routes.values())


def _await_requests(stack: Stack, count: int, message: str) -> None:
    wait_for(lambda: _proxy_requests(stack) >= count, timeout=60, interval=0.2, message=message)


def _dead_letters(stack: Stack) -> dict[str, int]:
    owners = {
        "monolith": stack.monolith_url,
        "inventory": stack.inventory_url,
        "payments": stack.payments_url,
        "orders": stack.orders_url,
    }
    return {
        owner: int(httpx.get(f"{url}/internal/sync/dead-letters", timeout=10).json()["count"])
        for owner, url in owners.items()
    }


def _reconciled_clean(stack: Stack) -> dict[str, Any]:
    """`strangler sync reconcile --aggregate all`, until a pass finds no drift (events of the
    last moments may still be on their way); its JSON report."""

    reports: list[dict[str, Any]] = []

    def clean() -> bool:
        done = _cli(stack, "sync", "reconcile", "--aggregate", "all", "--json")
        reports[:] = [json.loads(done.stdout)] if done.stdout.strip() else []
        return done.returncode == 0

    wait_for(clean, timeout=120, interval=1, message="a reconciliation with no drift")
    return reports[0]


def _settle(walker: Walker, stack: Stack, step: Step) -> None:
    """Do what the step's page asks of the person in the room, then wait for its gates."""
    if step.id == "backfill-and-sync":
        done = _cli(stack, "sync", "backfill", "--aggregate", "all", "--wait")
        assert done.returncode == 0, done.stdout + done.stderr
    elif step.id.endswith("-backfill-and-sync"):
        aggregate = step.id.removesuffix("-backfill-and-sync")
        done = _cli(stack, "sync", "backfill", "--aggregate", aggregate, "--wait")
        assert done.returncode == 0, done.stdout + done.stderr
    aggregates = sorted(
        {a for gate in step.gates if isinstance(gate, ReconcileDriftGate) for a in gate.aggregates}
    )
    last: list[str] = []

    def gates_pass() -> bool:
        outcome = walker.verify()
        for gate in outcome.failed_gates:
            if gate.gate.startswith("reconciliation of"):
                # Run again what the gate reads for the aggregates it has no fresh clean run of
                # (under steady writes a pass may meet a row whose event is on its way).
                seen = dict(part.split(" ", 1) for part in gate.observed.split("; "))
                for aggregate in aggregates:
                    fresh = re.fullmatch(r"clean ([0-9]+)s ago", seen.get(aggregate, ""))
                    if not fresh or int(fresh.group(1)) > FRESH_S:
                        _cli(stack, "sync", "reconcile", "--aggregate", aggregate)
                outcome = walker.verify()
        last[:] = [f"{g.gate}: {g.observed} {g.reason or ''}" for g in outcome.failed_gates]
        return outcome.moved

    try:
        wait_for(gates_pass, timeout=STEP_TIMEOUT_S, interval=0.5, message=f"{step.id}'s gates")
    except AssertionError as err:
        raise AssertionError(f"{step.id}: gates still fail: {last}") from err


def _books_balance() -> str:
    """What the books gate sees once it passes (a checkout in flight holds its reservation
    before its order is written, so under traffic a read may land between the two)."""
    seen: list[str] = []

    def balanced() -> str | None:
        with Endpoints(WalkerSettings()) as endpoints:
            result = evaluate_gate(
                BooksBalanceGate(kind="books_balance"),
                endpoints,
                started_at=datetime.now(UTC),
                baseline=None,
            )
        seen[:] = [result.observed]
        return result.observed if result.passed else None

    try:
        wait_for(balanced, timeout=60, interval=0.5, message="the books to balance")
    except AssertionError as err:
        raise AssertionError(f"the books do not balance: {seen}") from err
    return seen[0]


def test_the_whole_plan_walks_to_the_retired_monolith_and_all_the_way_back(
    stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in stack.env.items():  # the walker and the gates read the stack's settings
        if key.startswith(("STRANGLER_", "PROXY_")):
            monkeypatch.setenv(key, value)
    monkeypatch.setenv("STRANGLER_PLAN_FILE", str(_test_plan(tmp_path)))
    walker = Walker(WalkerSettings())
    plan = walker.plan
    assert [s.id for s in plan.steps] == [s.id for s in load_plan().steps]

    readers = _tokens(stack, [f"whole-reader-{n:02d}" for n in range(6)], staff=False)
    writers = _tokens(stack, [f"whole-writer-{n:02d}" for n in range(6)], staff=False)
    staff = _tokens(stack, ["whole-staff"], staff=True)[0]
    # The readers' own orders and payments, placed before the walk, are what their reads show.
    history = Workload(base_url=stack.proxy_url, skus=WRITE_SKUS, customer_tokens=readers)
    placed = asyncio.run(
        run_traffic(history, Mix(read=0, write=0, checkout=1, payment=1), rate=10, duration_s=3)
    )
    assert placed.failures == 0, placed.examples
    traffic = SteadyTraffic(
        Workload(base_url=stack.proxy_url, skus=READ_SKUS, customer_tokens=readers, clients=60),
        Workload(
            base_url=stack.proxy_url,
            skus=WRITE_SKUS,
            customer_tokens=writers,
            staff_token=staff,
            clients=20,
        ),
    )
    switches: list[tuple[str, float, float]] = []
    counts: dict[str, Any] = {}
    step_seconds: dict[str, float] = {}
    counts["seconds per step"] = step_seconds
    traffic.start()
    try:
        # Forward, step by step, to the retired monolith.
        for target in plan.steps[:-1]:
            started = time.monotonic()
            outcome = walker.next(actor="e2e")
            assert outcome.moved, (outcome.message, outcome.failed_gates)
            assert outcome.to_step == target
            if any(isinstance(a, SyncAction) for a in target.actions):
                switches.append((f"{target.id} (forward)", started, time.monotonic()))
            _settle(walker, stack, target)
            step_seconds[target.id] = round(time.monotonic() - started, 1)

        # Cut-the-cord is refused without --confirm once the retire gates pass (they are read
        # again, under traffic: a checkout in flight may unbalance one read of the books), and
        # nothing changes.
        refusals: list[Outcome] = []

        def refused_for_confirm() -> bool:
            refusals[:] = [walker.next(actor="e2e")]
            return "cannot be undone" in refusals[0].message

        wait_for(refused_for_confirm, timeout=120, interval=1, message="only --confirm missing")
        refused = refusals[0]
        assert not refused.moved
        assert refused.gates and all(g.passed for g in refused.gates), refused.gates
        assert walker.state().current == "retire"
        # The retire step's gates passed: a fresh reconciliation of every aggregate with zero
        # drift, the books balanced, the monolith served nothing, every reverse backlog empty.
        counts["retired end"] = {
            "gates": [g.observed for g in refused.gates],
            "books": _books_balance(),
            "dead_letters": _dead_letters(stack),
        }
        assert set(counts["retired end"]["dead_letters"].values()) == {0}

        # And back, step by step, to the monolith, each step seeing traffic.
        while walker.state().current is not None:
            step = plan.find(walker.state().current or "")
            before = _proxy_requests(stack)
            started = time.monotonic()
            walker.rollback(actor="e2e")
            if any(isinstance(a, SyncAction) for a in step.rollback):
                switches.append((f"{step.id} (back)", started, time.monotonic()))
            _await_requests(
                stack, before + ROLLED_BACK_REQUESTS, f"traffic after rolling back {step.id}"
            )
    finally:
        traffic.stop()

    counts["requests"] = traffic.total("sent")
    counts["failed"] = traffic.total("failures")
    counts["frozen"] = traffic.total("frozen")
    counts["frozen_recovered"] = traffic.total("frozen_recovered")
    per_switch = {
        name: traffic.frozen_during(start - CHUNK_S, end + CHUNK_S) for name, start, end in switches
    }
    counts["frozen_per_switch"] = per_switch
    examples = [e for run in traffic.runs for e in run.tally.examples]
    assert counts["failed"] == 0, examples[:10]
    assert counts["frozen_recovered"] == counts["frozen"]
    assert len(switches) == 6
    assert all(n <= MAX_FROZEN_PER_SWITCH for n in per_switch.values()), per_switch
    inside = sum(per_switch.values())
    assert inside >= counts["frozen"], "503s outside every switch's freeze"

    # Back at the monolith, quiet: no drift, the books balance, no dead letter.
    report = _reconciled_clean(stack)
    counts["drift"] = {name: r["drift"] for name, r in report["reports"].items()}
    assert set(counts["drift"].values()) == {0}
    counts["monolith end"] = {
        "books": _books_balance(),
        "dead_letters": _dead_letters(stack),
    }
    assert set(counts["monolith end"]["dead_letters"].values()) == {0}
    print(f"\nwhole walk: {counts}")
