"""The whole stack as real processes on real PostgreSQL and Redis, for end-to-end tests."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from contracts.sync_token import SYNC_TOKEN_ENV
from proxy.config_edit import update_route
from strangler.stack import (
    Ports,
    orders_service_account,
    stack_environment,
    stack_processes,
    write_routes_file,
)
from tests.support.components import StackUrls, free_ports, prepare, running
from tests.support.database_templates import fresh_owner_databases
from tests.support.postgres import fresh_database
from tests.support.processes import REPO_ROOT, ServerProcess
from tests.support.random_refs import random_suffix
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
    """Migrate, seed, and start every process of the stack on fresh databases, with a sync
    token and the orders service's account, as `strangler up` does."""
    with ExitStack() as stack_cm:
        databases = stack_cm.enter_context(fresh_owner_databases("e2e"))
        proxy_db = stack_cm.enter_context(fresh_database("e2e_proxy"))
        var = tmp_path / "var"
        var.mkdir()
        ports = free_ports()
        routes_file = var / "routes.yaml"
        write_routes_file(routes_file, ports)
        env = stack_environment(
            ports,
            base={
                **os.environ,
                "STRANGLER_VAR_DIR": str(var),
                **databases,
                "PROXY_DIFF_DATABASE_URL": proxy_db,
                "PROXY_ROUTES_FILE": str(routes_file),
                "PROXY_ADMIN_TOKEN": f"e2e-{random_suffix()}",
                "CELERY_BROKER_URL": redis_url,
                "STRANGLER_QUEUE_PREFIX": f"e2e{random_suffix()}",
            },
        )
        env.setdefault(SYNC_TOKEN_ENV, f"e2e-sync-{random_suffix()}")
        prepare(env, products=products)
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
