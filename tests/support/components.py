"""The stack's processes, started for tests from the one list `strangler up` runs
(``strangler/stack.py``), so tests run exactly the command lines the stack runs.

``prepare`` runs the preparation steps (migrations, demo data); ``running`` starts any subset of
the processes by name, waits until each answers its ready URL, and stops them all on exit. The
``env`` given is each child's whole environment (build it from ``os.environ`` and
``strangler.stack.stack_environment`` as the test needs).
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
from collections.abc import Iterable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path

from contracts.sync_token import SYNC_TOKEN_ENV
from strangler.stack import (
    Ports,
    ProcessSpec,
    preparation_steps,
    stack_environment,
    stack_processes,
    write_routes_file,
)
from tests.support.database_templates import fresh_owner_databases
from tests.support.ports import free_port
from tests.support.postgres import fresh_database
from tests.support.processes import REPO_ROOT, ServerProcess, stop_all
from tests.support.random_refs import random_suffix


class StackUrls:
    """The base URLs of processes started on ``ports`` (a mixin for the suites' handles)."""

    ports: Ports

    @property
    def monolith_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.monolith}"

    @property
    def inventory_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.inventory}"

    @property
    def payments_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.payments}"

    @property
    def orders_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.orders}"

    @property
    def proxy_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.proxy}"

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.admin}"


def free_ports() -> Ports:
    """A free port for each listener of the stack."""
    return Ports(*(free_port() for _ in range(6)))


def up_port_options(ports: Ports) -> list[str]:
    """`strangler up`'s options that put every listener on ``ports``."""
    return [
        option
        for name, port in dataclasses.asdict(ports).items()
        for option in (f"--{name}-port", str(port))
    ]


def process_spec(name: str, ports: Ports | None = None) -> ProcessSpec:
    """The stack's process ``name`` (one of ``strangler.stack.stack_processes``) as it runs on
    ``ports`` (the default ports when not given: enough for the processes whose command line
    names no port)."""
    for spec in stack_processes(ports or Ports()):
        if spec.name == name:
            return spec
    raise KeyError(f"the stack has no process {name!r}")


def server(
    name: str, *, ports: Ports, env: Mapping[str, str], log_dir: Path, label: str | None = None
) -> ServerProcess:
    """The stack's process ``name``, not started yet; its log is ``<label or name>.log``."""
    spec = process_spec(name, ports)
    return ServerProcess(label or name, spec.argv, env=env, log_dir=log_dir, inherit_env=False)


def prepare(
    env: Mapping[str, str], *, products: int = 0, reservations: int = 0, migrated: bool = False
) -> None:
    """Run the stack's preparation steps in ``env``: migrate the owners' databases (unless they
    come ``migrated``, copies of the run's templates: tests/support/database_templates.py), then
    seed ``products`` (and ``reservations``) when asked. Fails the test with the step's output."""
    steps = preparation_steps(products, reservations=reservations)
    if migrated:
        migrations = preparation_steps(0)
        steps = [step for step in steps if step not in migrations]
    for what, argv in steps:
        done = subprocess.run(
            argv, env=dict(env), cwd=REPO_ROOT, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, f"could not {what}:\n{done.stdout}{done.stderr}"


@contextmanager
def whole_stack_environment(
    tmp_path: Path, redis_url: str, label: str, *, migrated: bool
) -> Iterator[tuple[Ports, dict[str, str]]]:
    """Free ports and the environment `strangler up` gives every process, for a whole stack of
    fresh databases (each owner's, ``migrated`` copies of the run's templates or empty, and the
    proxy's diff store): a var folder under ``tmp_path`` with the default route table, queues on
    ``redis_url`` named for this stack, and a sync token of its own. Nothing is started."""
    with ExitStack() as stack:
        databases = stack.enter_context(fresh_owner_databases(label, migrated=migrated))
        proxy_db = stack.enter_context(fresh_database(f"{label}_proxy"))
        var = tmp_path / "var"
        var.mkdir(parents=True, exist_ok=True)
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
                "PROXY_ADMIN_TOKEN": f"{label}-{random_suffix()}",
                "CELERY_BROKER_URL": redis_url,
                "STRANGLER_QUEUE_PREFIX": f"{label}{random_suffix()}",
                SYNC_TOKEN_ENV: f"{label}-sync-{random_suffix()}",
            },
        )
        yield ports, env


@contextmanager
def running(
    names: Iterable[str],
    *,
    ports: Ports,
    env: Mapping[str, str],
    log_dir: Path,
    timeout: float = 60.0,
) -> Iterator[dict[str, ServerProcess]]:
    """Start the stack's processes ``names`` on ``ports``, wait for their ready URLs (workers and
    the relay have none), yield them by name, and stop them all on exit."""
    with ExitStack() as stack:
        started: dict[str, ServerProcess] = {}
        for name in names:
            proc = server(name, ports=ports, env=env, log_dir=log_dir)
            started[name] = stack.enter_context(proc)
        # Runs first on the way out (an exit stack unwinds last in, first out): all stop at once.
        stack.callback(lambda: stop_all(started.values()))
        for name, proc in started.items():
            ready_url = process_spec(name, ports).ready_url
            if ready_url is not None:
                proc.wait_http_ok(ready_url, timeout=timeout)
        yield started
