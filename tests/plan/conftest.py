"""Fixtures for walking plans: a real route file, a real gate-endpoint server, the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.support.ports import free_port
from tests.support.processes import REPO_ROOT, VENV_BIN, ServerProcess
from tests.support.random_refs import random_suffix

DEFAULT_ROUTES = REPO_ROOT / "proxy" / "routes.default.yaml"


@dataclass
class Components:
    """What the monolith, the service and the proxy admin API report to the gates."""

    file: Path
    token: str = field(default_factory=lambda: f"tok-{random_suffix()}")
    data: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.data = {
            "token": self.token,
            "outbox": {
                "pending": 0,
                "total": 100,
                "oldest_pending_age_s": None,
                "by_aggregate_type": {"product": 0, "reservation": 0},
            },
            "sync": {
                "events_processed": 0,
                "events_applied": 0,
                "events_skipped": 0,
                "last_lag_s": None,
                "backfills": [],
            },
            "admin": {"since": datetime.now(UTC).isoformat(), "routes": {}},
            "mismatches": [],
        }
        self.save()

    def save(self) -> None:
        tmp = self.file.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data))
        os.replace(tmp, self.file)

    def backfill(self, job: str, *, done: bool, rows: int = 100) -> Components:
        jobs = [b for b in self.data["sync"]["backfills"] if b["job"] != job]
        jobs.append({"job": job, "last_key": None, "rows": rows, "done": done, "updated_at": "x"})
        self.data["sync"]["backfills"] = jobs
        self.save()
        return self

    def outbox(self, *, pending: int, oldest_s: float | None = None) -> Components:
        self.data["outbox"].update(pending=pending, oldest_pending_age_s=oldest_s)
        self.save()
        return self

    def traffic(
        self,
        route: str,
        *,
        requests: int = 0,
        errors: int = 0,
        compared: int = 0,
        upstream: str = "monolith",
    ) -> Components:
        """Add to the proxy's cumulative counters for ``route`` (requests answered by
        ``upstream``)."""
        entry = self.data["admin"]["routes"].setdefault(
            route,
            {
                "requests": {"monolith": 0},
                "errors": 0,
                "fallbacks": 0,
                "shadow": {"compared": 0, "mismatched": 0, "dropped": 0, "skipped": 0},
            },
        )
        entry["requests"][upstream] = entry["requests"].get(upstream, 0) + requests
        entry["errors"] += errors
        entry["shadow"]["compared"] += compared
        self.save()
        return self

    def mismatch(self, route: str, at: datetime) -> Components:
        self.data["mismatches"].append({"route": route, "at": at.isoformat()})
        self.save()
        return self

    def proxy_restarted(self) -> Components:
        self.data["admin"] = {"since": datetime.now(UTC).isoformat(), "routes": {}}
        self.save()
        return self

    def all_healthy(self) -> Components:
        self.backfill("products", done=True).backfill("reservations", done=True)
        return self.outbox(pending=0)


@dataclass
class PlanEnv:
    tmp: Path
    components: Components
    url: str
    routes_file: Path
    var_dir: Path
    plan_file: Path | None = None
    overrides: dict[str, str] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        env = {
            **os.environ,
            "STRANGLER_VAR_DIR": str(self.var_dir),
            "PROXY_ROUTES_FILE": str(self.routes_file),
            "STRANGLER_MONOLITH_URL": self.url,
            "STRANGLER_INVENTORY_URL": self.url,
            "STRANGLER_PROXY_ADMIN_URL": self.url,
            "PROXY_ADMIN_TOKEN": self.components.token,
        }
        if self.plan_file is not None:
            env["STRANGLER_PLAN_FILE"] = str(self.plan_file)
        else:
            env.pop("STRANGLER_PLAN_FILE", None)
        env.update(self.overrides)
        return env

    @property
    def state_file(self) -> Path:
        return self.var_dir / "plan-state.json"

    def plan(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``strangler plan ARGS`` as a fresh process (so nothing survives but the files)."""
        return subprocess.run(
            [str(VENV_BIN / "strangler"), "plan", *args],
            env={**self.env, "COLUMNS": "200"},
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )

    def state(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.state_file.read_text())
        return data


@pytest.fixture(scope="module")
def gate_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """One gate-endpoint server per test module: its URL and the file it answers from. It
    re-reads the file on every request, so each test's ``Components`` (a fresh picture and admin
    token, written to this file) replaces the last test's; a module's tests run one at a time."""
    folder = tmp_path_factory.mktemp("gate-server")
    file = folder / "components.json"
    Components(file)
    port = free_port()
    server = ServerProcess(
        "gate-server",
        [sys.executable, "-m", "tests.plan.gate_server", str(port), str(file)],
        log_dir=folder,
    ).start()
    url = f"http://127.0.0.1:{port}"
    try:
        server.wait_http_ok(f"{url}/health")
        yield url, file
    finally:
        server.stop()


@pytest.fixture
def plan_env(tmp_path: Path, gate_server: tuple[str, Path]) -> PlanEnv:
    url, components_file = gate_server
    var_dir = tmp_path / "var"
    var_dir.mkdir()
    routes_file = var_dir / "routes.yaml"
    routes_file.write_text(DEFAULT_ROUTES.read_text())
    return PlanEnv(tmp_path, Components(components_file), url, routes_file, var_dir)
