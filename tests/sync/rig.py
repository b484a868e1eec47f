"""The owners (the monolith and the inventory service; the payments and orders services when a
test asks, and with the orders service the proxy: the façade its saga calls through) as real
processes on fresh databases, plus the sync processes and the CLI, for the sync tests.

Writes reach the monolith through its HTTP API (gunicorn); what the service holds is read
through its HTTP API (uvicorn), so "equal" means equal JSON as clients see it. Like `strangler
up`, the rig gives its owners and its CLI one sync token (a fresh one, unless the test brings
its own ``STRANGLER_SYNC_TOKEN``); ``hold_sync_token`` lends it to the test process when the
test itself calls an owner's internal endpoints that are not reads.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import httpx
import psycopg
import pytest
import redis
from celery import Celery
from psycopg import sql

from contracts.sync_token import SYNC_TOKEN_ENV, bearer
from proxy.config_edit import update_route
from strangler.stack import orders_service_account, stack_environment, write_routes_file
from sync.backfill_jobs import JOBS
from sync.celery_app import make_celery, queue_name
from tests.support.callers import stack_staff_headers
from tests.support.components import free_ports, prepare, running
from tests.support.database_templates import fresh_owner_databases
from tests.support.inventory_api import (
    PRODUCTS,
    RESERVATIONS,
    adjustment_body,
    adjustments_path,
    product_body,
    product_path,
    reservation_body,
    reservation_path,
)
from tests.support.processes import REPO_ROOT, VENV_BIN, ServerProcess
from tests.support.random_refs import random_suffix
from tests.support.waiting import wait_for
from tests.sync.workers import WorkerPool, running_relay, running_worker, running_workers

#: What a service keeps when a test empties it (``SyncRig.empty_service``): its schema's version
#: and which way sync runs (a test that switches it switches it back).
_KEPT_TABLES = ("alembic_version", "sync_direction")


@dataclass
class SyncRig:
    env: dict[str, str]
    log_dir: Path
    monolith_url: str
    inventory_url: str
    #: The test process's HTTP client of the rig's servers (one for all calls: a client made per
    #: call builds its TLS context each time, which costs more than a local request).
    http: httpx.Client
    processes: list[ServerProcess] = field(default_factory=list)
    #: Workers the tests on this rig share (``shared_workers``), stopped with the rig.
    pool: WorkerPool | None = None

    # --- processes -------------------------------------------------------------------------

    def run(self, *argv: str, **env: str) -> subprocess.CompletedProcess[str]:
        """``python *argv`` in this rig's environment (``env`` overrides)."""
        return self.run_program(sys.executable, *argv, **env)

    def run_program(self, *argv: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            list(argv),
            env={**os.environ, **self.env, **env},
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )

    def strangler_sync(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        """The installed ``strangler`` console script, as a user runs it."""
        return self.run_program(str(VENV_BIN / "strangler"), "sync", *args, **env)

    def worker(
        self, process: str, *, concurrency: int | None = None
    ) -> AbstractContextManager[ServerProcess]:
        return running_worker(process, env=self.env, log_dir=self.log_dir, concurrency=concurrency)

    def workers(
        self, *processes: str, concurrency: int | None = None
    ) -> AbstractContextManager[list[ServerProcess]]:
        """Several workers of this test, started side by side."""
        return running_workers(
            processes, env=self.env, log_dir=self.log_dir, concurrency=concurrency
        )

    def shared_workers(
        self, *processes: str, concurrency: int | None = None
    ) -> list[ServerProcess]:
        """Workers running from now until the rig stops, shared with the later tests on it
        (started if they are not running yet)."""
        assert self.pool is not None
        return self.pool.running(*processes, concurrency=concurrency)

    def stop_shared_worker(self, process: str, *, concurrency: int | None = None) -> None:
        """Stop ``process``'s shared worker if it runs (the test needs its queue to itself)."""
        assert self.pool is not None
        self.pool.stop(process, concurrency=concurrency)

    def take_worker(self, process: str, *, concurrency: int | None = None) -> ServerProcess:
        """A running shared worker handed over to this test (which kills it)."""
        assert self.pool is not None
        return self.pool.take(process, concurrency=concurrency)

    def relay(self) -> AbstractContextManager[ServerProcess]:
        return running_relay(env=self.env, log_dir=self.log_dir)

    # --- a fresh start on a shared rig (PostgreSQL) ----------------------------------------

    def fresh(self, *services: str) -> SyncRig:
        """This shared rig for one test, as a rig of its own would start: ``services`` empty
        (``empty_service``), the outbox empty, the environment the test's own (``for_test``)."""
        self.empty_service(*services)
        self.empty_outbox()
        return self.for_test()

    def for_test(self) -> SyncRig:
        """This rig for one test of the module sharing it: its own copy of the environment (what
        the test changes there goes no further), the same servers and shared workers."""
        return replace(self, env=dict(self.env))

    def empty_service(self, *capabilities: str) -> None:
        """Each service of ``capabilities`` as a fresh one: every row of its database gone
        (rows, checkpoints, processed events, dead letters, reconciliation runs), so a test on
        a rig shared by its module starts where a rig of its own would."""
        for capability in capabilities:
            url = self.env[f"{capability.upper()}_DATABASE_URL"].replace("+psycopg", "")
            with psycopg.connect(url, autocommit=True) as conn:
                tables = [
                    row[0]
                    for row in conn.execute(
                        "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
                        " AND NOT tablename = ANY(%s)",
                        (list(_KEPT_TABLES),),
                    )
                ]
                conn.execute(
                    sql.SQL("TRUNCATE {}").format(sql.SQL(", ").join(map(sql.Identifier, tables)))
                )

    def empty_outbox(self) -> None:
        """The monolith's outbox without an event (as on a fresh rig): what earlier tests on a
        shared rig wrote is neither pending nor counted."""
        self._empty_monolith("outbox_outboxevent")

    def empty_monolith_dead_letters(self) -> None:
        """The monolith's dead letters (of the reverse flow) gone, as on a fresh rig."""
        self._empty_monolith("reverse_sync_deadletter")

    def _empty_monolith(self, table: str) -> None:
        with psycopg.connect(self.env["DATABASE_URL"], autocommit=True) as conn:
            conn.execute(sql.SQL("TRUNCATE {}").format(sql.Identifier(table)))

    def sync_auth(self) -> dict[str, str]:
        """The ``Authorization`` header of the rig's sync token, as the callers send it."""
        return bearer(self.env[SYNC_TOKEN_ENV])

    def hold_sync_token(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """This test process as a caller of the rig's owners: their sync token in its
        environment, where ``sync.control.internal_auth`` reads it."""
        monkeypatch.setenv(SYNC_TOKEN_ENV, self.env[SYNC_TOKEN_ENV])

    def sender(self, monkeypatch: pytest.MonkeyPatch) -> Celery:
        """A Celery app in the test process that sends to this rig's broker and queues."""
        for key in ("CELERY_BROKER_URL", "STRANGLER_QUEUE_PREFIX", "STRANGLER_VAR_DIR"):
            monkeypatch.setenv(key, self.env[key])
        return make_celery("test-sender")

    # --- monolith writes (HTTP) ------------------------------------------------------------

    @cached_property
    def staff(self) -> dict[str, str]:
        """The ``Authorization`` header of a staff caller of the rig (every inventory write
        needs one)."""
        return stack_staff_headers(self.env)

    def _post(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        response = self.http.post(f"{self.monolith_url}{path}", json=body or {}, headers=self.staff)
        assert response.status_code in (200, 201), (path, response.status_code, response.text)
        data: dict[str, Any] = response.json()
        return data

    def create_product(self, **overrides: Any) -> dict[str, Any]:
        return self._post(PRODUCTS, product_body(**overrides))

    def adjust(self, sku: str, **overrides: Any) -> dict[str, Any]:
        return self._post(adjustments_path(sku), adjustment_body(**overrides))

    def reserve(self, lines: list[tuple[str, int]]) -> dict[str, Any]:
        return self._post(RESERVATIONS, reservation_body(lines))

    def commit(self, reservation_id: str) -> dict[str, Any]:
        return self._post(reservation_path(reservation_id, "commit"))

    # --- reads (HTTP) ----------------------------------------------------------------------

    def get(self, base_url: str, path: str) -> tuple[int, Any]:
        response = self.http.get(f"{base_url}{path}")
        return response.status_code, response.json()

    def product_on_both(self, sku: str) -> tuple[Any, Any]:
        path = product_path(sku)
        return self.get(self.monolith_url, path), self.get(self.inventory_url, path)

    def reservation_on_both(self, reservation_id: str) -> tuple[Any, Any]:
        path = reservation_path(reservation_id)
        return self.get(self.monolith_url, path), self.get(self.inventory_url, path)

    def product_synced(self, sku: str) -> bool:
        monolith, service = self.product_on_both(sku)
        return bool(monolith[0] == 200 and monolith == service)

    def reservation_synced(self, reservation_id: str) -> bool:
        monolith, service = self.reservation_on_both(reservation_id)
        return bool(monolith[0] == 200 and monolith == service)

    def outbox_stats(self) -> dict[str, Any]:
        data: dict[str, Any] = self.http.get(f"{self.monolith_url}/internal/outbox/stats").json()
        return data

    def service_url(self, capability: str) -> str:
        return self.env[f"STRANGLER_{capability.upper()}_URL"]

    # --- the façade (with the orders service) ------------------------------------------------

    @property
    def proxy_url(self) -> str:
        return self.env["STRANGLER_FACADE_URL"]

    @property
    def routes_file(self) -> Path:
        return Path(self.env["PROXY_ROUTES_FILE"])

    def routes_served(self) -> None:
        """Wait until the running proxy serves the route file as it is now."""
        digest = hashlib.sha256(self.routes_file.read_bytes()).hexdigest()
        url = f"{self.env['STRANGLER_PROXY_ADMIN_URL']}/admin/routes"
        auth = {"Authorization": f"Bearer {self.env['PROXY_ADMIN_TOKEN']}"}
        wait_for(
            lambda: self.http.get(url, headers=auth).json()["digest"] == digest,
            timeout=10,
            message="the proxy to serve the route file",
        )

    def set_route(self, name: str, **changes: Any) -> None:
        """Flip a route of the façade, as `strangler routes set` does, once it is served."""
        update_route(self.routes_file, name, actor="test", **changes)
        self.routes_served()

    def sync_stats(self, capability: str = "inventory") -> dict[str, Any]:
        url = f"{self.service_url(capability)}/internal/sync/stats"
        data: dict[str, Any] = self.http.get(url).json()
        return data

    def bearer(self, username: str, *, staff: bool = False) -> dict[str, str]:
        """The ``Authorization`` header of a monolith account (created), as a client sends it."""
        argv = [sys.executable, "monolith/manage.py", "issue_token", username, "--create"]
        return {"Authorization": f"Bearer {_issued(argv + ['--staff'] * staff, self.env)}"}

    def queued(self, side: str) -> int:
        """How many messages wait in ``side``'s queue (a Redis broker)."""
        client = redis.Redis.from_url(self.env["CELERY_BROKER_URL"])
        try:
            return int(client.llen(queue_name(side, self.env["STRANGLER_QUEUE_PREFIX"])))  # type: ignore[arg-type]
        finally:
            client.close()

    def checkpoint(self, job: str) -> dict[str, Any] | None:
        """``job``'s checkpoint (or a range's, ``job#n``), as its owner's stats show it."""
        owner = JOBS[job.split("#")[0]].capability
        return next((b for b in self.sync_stats(owner)["backfills"] if b["job"] == job), None)


def _issued(argv: list[str], env: dict[str, str]) -> str:
    """The token a ``manage.py issue_token`` command prints."""
    done = subprocess.run(argv, env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def _databases(stack: ExitStack, var: Path, kind: str) -> dict[str, str]:
    if kind == "sqlite":
        return {
            "DATABASE_URL": f"sqlite:///{var / 'monolith.sqlite3'}",
            "INVENTORY_DATABASE_URL": f"sqlite:///{var / 'inventory.sqlite3'}",
            "PAYMENTS_DATABASE_URL": f"sqlite:///{var / 'payments.sqlite3'}",
            "ORDERS_DATABASE_URL": f"sqlite:///{var / 'orders.sqlite3'}",
        }
    return stack.enter_context(fresh_owner_databases("sync", migrated=True))


@contextmanager
def running_rig(
    tmp_path: Path,
    broker_env: dict[str, str],
    *,
    databases: Literal["postgres", "sqlite"] = "postgres",
    seed_products: int = 0,
    seed_reservations: int = 0,
    services: tuple[str, ...] = ("inventory",),
    saga_calls_services: tuple[str, ...] = (),
) -> Iterator[SyncRig]:
    """Fresh, migrated databases for every owner, and the HTTP servers of the monolith and of
    ``services`` on free ports. With the orders service, its account's token is issued as
    `strangler up` does, the proxy runs on the default route table, and the saga calls through
    it (``STRANGLER_FACADE_URL``), or calls the services named in ``saga_calls_services``
    directly (the overrides ``ORDERS_INVENTORY_URL``, ``ORDERS_PAYMENTS_URL``, as a mesh)."""
    with ExitStack() as stack:
        var = Path(broker_env["STRANGLER_VAR_DIR"])
        ports = free_ports()
        env = stack_environment(
            ports, base={**os.environ, **broker_env, **_databases(stack, var, databases)}
        )
        env.setdefault(SYNC_TOKEN_ENV, f"sync-{random_suffix()}")
        prepare(
            env,
            products=seed_products,
            reservations=seed_reservations,
            migrated=databases == "postgres",
        )
        if "orders" in services:
            argv, account_env = orders_service_account(var)
            env.update(account_env)
            done = subprocess.run(
                argv, env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
            )
            assert done.returncode == 0, done.stdout + done.stderr
            for called in saga_calls_services:
                env[f"ORDERS_{called.upper()}_URL"] = env[f"STRANGLER_{called.upper()}_URL"]
            write_routes_file(Path(env["PROXY_ROUTES_FILE"]), ports)
            env.setdefault("PROXY_ADMIN_TOKEN", f"admin-{random_suffix()}")
            services = (*services, "proxy")
        log_dir = tmp_path / "logs"
        servers = stack.enter_context(
            running(["monolith", *services], ports=ports, env=env, log_dir=log_dir)
        )
        pool = WorkerPool(env, log_dir)
        stack.callback(pool.close)
        http = stack.enter_context(httpx.Client(timeout=10))
        yield SyncRig(
            env=env,
            log_dir=log_dir,
            monolith_url=env["STRANGLER_MONOLITH_URL"],
            inventory_url=env["STRANGLER_INVENTORY_URL"],
            processes=list(servers.values()),
            pool=pool,
            http=http,
        )
