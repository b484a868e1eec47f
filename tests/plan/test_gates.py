"""The gates of the whole decomposition (reconciliation drift, books balance, monolith-served
requests) read from a real HTTP server standing in for the owners and the proxy
(tests/plan/gate_server.py): what each one sees, in one line, when it passes and when it fails."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from migrations_plan import gates
from migrations_plan.gates import Endpoints, GateResult, evaluate_gate, take_baseline
from migrations_plan.model import (
    BooksBalanceGate,
    Gate,
    MonolithServedGate,
    ReconcileDriftGate,
    Step,
)
from migrations_plan.settings import WalkerSettings
from tests.plan.books_factory import Shop
from tests.plan.conftest import Components, PlanEnv
from tests.support.random_refs import random_suffix

CAPABILITIES = ("inventory", "payments", "orders")
ROUTES = tuple(f"{c}-{kind}" for c in CAPABILITIES for kind in ("reads", "writes"))


@pytest.fixture
def owners(plan_env: PlanEnv, monkeypatch: pytest.MonkeyPatch) -> Iterator[Components]:
    """The gate server as the monolith (its root), each service (``/svc/CAPABILITY``) and the
    proxy, with a sync token, every capability forward and empty books on both sides."""
    token = f"sync-{random_suffix()}"
    env = {
        **plan_env.env,
        "STRANGLER_SYNC_TOKEN": token,
        **{f"STRANGLER_{c.upper()}_URL": f"{plan_env.url}/svc/{c}" for c in CAPABILITIES},
    }
    for key, value in env.items():
        if key.startswith(("STRANGLER_", "PROXY_")):
            monkeypatch.setenv(key, value)
    components = plan_env.components
    components.data.update(
        sync_token=token,
        directions={c: {"monolith": "forward", "service": "forward"} for c in CAPABILITIES},
        rows={"monolith": Shop().rows(), "service": Shop().rows()},
        reconciliations={},
    )
    components.save()
    yield components


def _evaluate(
    gate: Gate, *, started_at: datetime | None = None, baseline: dict[str, Any] | None = None
) -> GateResult:
    now = datetime.now(UTC)
    with Endpoints(WalkerSettings()) as endpoints:
        return evaluate_gate(
            gate, endpoints, started_at=started_at or now, baseline=baseline, now=now
        )


def _run(aggregate: str, *, ago_s: float, drift: int = 0, repaired: bool = False) -> dict[str, Any]:
    finished = datetime.now(UTC) - timedelta(seconds=ago_s)
    return {
        "aggregate": aggregate,
        "finished_at": finished.isoformat(),
        "clean": drift == 0,
        "drift": drift,
        "repaired": repaired,
        "clean_after_repair": True if repaired else None,
    }


def test_reconcile_drift_wants_a_fresh_clean_run_of_every_aggregate(owners: Components) -> None:
    gate = ReconcileDriftGate(
        kind="reconcile_drift", aggregates=("payments", "orders"), max_age_s=300
    )
    never = _evaluate(gate)
    assert not never.passed
    assert never.observed == "payments never reconciled; orders never reconciled"
    assert never.reason is not None and "strangler sync reconcile" in never.reason

    owners.data["reconciliations"] = {
        "payments": {"payments": _run("payments", ago_s=30, drift=3)},
        "orders": {"orders": _run("orders", ago_s=900)},
    }
    owners.save()
    seen = _evaluate(gate)
    assert not seen.passed
    assert seen.observed == "payments 3 drifted 30s ago; orders clean 900s ago"
    assert seen.reason is not None and seen.reason.endswith("for payments, orders")

    owners.data["reconciliations"] = {
        "payments": {"payments": _run("payments", ago_s=10, drift=3, repaired=True)},
        "orders": {"orders": _run("orders", ago_s=20)},
    }
    owners.save()
    assert _evaluate(gate).passed


def test_books_balance_reads_each_capability_from_the_owner_that_takes_its_writes(
    owners: Components, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gates, "MAX_ROWS", 2)  # several pages per aggregate
    balanced = Shop()
    for sku in ("SKU-00001", "SKU-00002", "SKU-00001"):
        balanced.checkout(sku)
    broken = copy.deepcopy(balanced)  # the same books, but the stock of one product is off
    broken.reserved["SKU-00002"] = 5
    owners.data["rows"] = {"monolith": balanced.rows(), "service": broken.rows()}
    owners.save()
    gate = BooksBalanceGate(kind="books_balance")
    ok = _evaluate(gate)
    assert ok.passed, ok
    assert ok.observed == "balanced over 2 products, 3 reservations, 3 payments, 3 orders"

    # Inventory now written by its service, whose books disagree with everyone's.
    owners.data["directions"]["inventory"] = {"monolith": "reverse", "service": "reverse"}
    owners.save()
    off = _evaluate(gate)
    assert not off.passed
    assert off.observed.startswith("1 imbalance(s) over 2 products")
    assert "SKU-00002 reserved 5, pending reservations hold 1" in off.observed


def test_books_balance_without_the_sync_token_says_so(
    owners: Components, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STRANGLER_SYNC_TOKEN")
    monkeypatch.setenv("STRANGLER_VAR_DIR", str(owners.file.parent / "nowhere"))
    result = _evaluate(BooksBalanceGate(kind="books_balance"))
    assert not result.passed and result.observed == "unavailable"
    assert result.reason is not None and "STRANGLER_SYNC_TOKEN" in result.reason


def test_monolith_served_counts_every_business_route_since_the_step_started(
    owners: Components,
) -> None:
    gate = MonolithServedGate(
        kind="monolith_served", routes=ROUTES, min_requests=100, min_window_s=60
    )
    step = Step(id="retire", title="Retire", page="x.md", gates=(gate,))
    for route in ROUTES:  # before the step: the monolith served plenty, which no longer counts
        owners.traffic(route, requests=50)
    with Endpoints(WalkerSettings()) as endpoints:
        baseline = take_baseline(endpoints, step)
    started = datetime.now(UTC) - timedelta(seconds=90)
    for capability in CAPABILITIES:
        owners.traffic(f"{capability}-reads", requests=40, upstream=capability)
    passed = _evaluate(gate, started_at=started, baseline=baseline)
    assert passed.passed, passed
    assert passed.observed == "monolith served 0 of 120 requests in 90s since the step started"

    owners.traffic("payments-reads", requests=2)  # a fallback, say
    served = _evaluate(gate, started_at=started, baseline=baseline)
    assert not served.passed
    assert served.observed.startswith("monolith served 2 of 122 requests")

    short = _evaluate(gate, started_at=datetime.now(UTC) - timedelta(seconds=5), baseline=None)
    assert not short.passed and "in 5s since the proxy started" in short.observed

    unknown = MonolithServedGate(kind="monolith_served", routes=("shoes-reads",))
    missing = _evaluate(unknown, started_at=started, baseline=baseline)
    assert not missing.passed and missing.reason == "the proxy has no route 'shoes-reads'"
