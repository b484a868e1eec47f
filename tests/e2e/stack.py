"""The whole stack as real processes on real PostgreSQL and Redis, for end-to-end tests."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from proxy.config_edit import update_route
from strangler.stack import (
    Ports,
    orders_service_account,
    stack_processes,
)
from tests.support.components import StackUrls, prepare, running, whole_stack_environment
from tests.support.processes import REPO_ROOT, ServerProcess
from tests.support.waiting import wait_for


@dataclass
class Stack(StackUrls):
    ports: Ports
    env: dict[str, str]
    routes_file: Path
    processes: dict[str, ServerProcess] = field(default_factory=dict)

    def admin(self, path: str) -> Any:
        token = self.env["PROXY_ADMIN_TOKEN"]
        resp = httpx.get(
            f"{self.admin_url}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=5
        )
        resp.raise_for_status()
        return resp.json()

    def set_route(self, name: str, **changes: Any) -> None:
        """Flip a flag in the route file and wait until the running proxy serves the new table."""
        update_route(self.routes_file, name, actor="e2e", **changes)
        digest = hashlib.sha256(self.routes_file.read_bytes()).hexdigest()
        wait_for(
            lambda: self.admin("/admin/routes")["digest"] == digest,
            timeout=10,
            message=f"proxy to load {name} {changes}",
        )

    def run(self, *argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, *argv], env=self.env, cwd=REPO_ROOT, capture_output=True, text=True
        )


@contextmanager
def running_stack(tmp_path: Path, redis_url: str, *, products: int) -> Iterator[Stack]:
    """Seed and start every process of the stack on fresh databases (copies of the run's
    migrated templates: the migrations themselves ran once, into the templates), with a sync
    token and the orders service's account, as `strangler up` does."""
    with ExitStack() as stack_cm:
        ports, env = stack_cm.enter_context(
            whole_stack_environment(tmp_path, redis_url, "e2e", migrated=True)
        )
        var = Path(env["STRANGLER_VAR_DIR"])
        routes_file = Path(env["PROXY_ROUTES_FILE"])
        prepare(env, products=products, migrated=True)
        # As `strangler up` does: the orders service's account, which its saga signs in as.
        argv, account_env = orders_service_account(var)
        env.update(account_env)
        made = subprocess.run(argv, env=env, cwd=REPO_ROOT, capture_output=True, text=True)
        assert made.returncode == 0, made.stderr
        names = [spec.name for spec in stack_processes(ports)]
        processes = stack_cm.enter_context(
            running(names, ports=ports, env=env, log_dir=tmp_path / "logs")
        )
        yield Stack(ports=ports, env=env, routes_file=routes_file, processes=processes)
