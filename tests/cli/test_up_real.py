"""`strangler up --real` on the real PostgreSQL and Redis: it creates each owner's database and
role, every process opens only its own owners' databases as their roles, a read is served
through the proxy, a write reaches the service through Redis, and Ctrl-C stops every process.

One stack for the module (it takes a while to start); the tests run in file order, the last one
stops it."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import socket
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest

from contracts.process_status import read_status
from strangler.real_mode import OWNER_URL_VARIABLES, PASSWORDS_FILE_NAME, owner_url
from strangler.stack import Ports, issue_tokens_step
from tests.conftest import REDIS_URL
from tests.support.components import free_ports, up_port_options
from tests.support.postgres import ADMIN_URL, drop_owner_databases
from tests.support.processes import REPO_ROOT, ServerProcess, run_to_end
from tests.support.random_refs import random_sku, random_suffix
from tests.support.waiting import wait_for

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class RealStack:
    up: ServerProcess
    ports: Ports
    prefix: str
    var: Path
    env: dict[str, str]

    @property
    def proxy(self) -> str:
        return f"http://127.0.0.1:{self.ports.proxy}"

    def url_of(self, owner: str) -> str:
        """``owner``'s database URL, as its own role (the password up kept in the var folder)."""
        passwords = json.loads((self.var / PASSWORDS_FILE_NAME).read_text())
        name = f"{self.prefix}{owner}"
        return owner_url(ADMIN_URL, name, passwords[name])


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealStack]:
    base = tmp_path_factory.mktemp("up-real")
    ports, prefix, var = free_ports(), f"sf_real_{random_suffix()}_", base / "var"
    # What the shell that runs the suite may hold stays out: real mode sets each owner's URL.
    env = {k: v for k, v in os.environ.items() if k not in OWNER_URL_VARIABLES.values()}
    env.update(
        STRANGLER_VAR_DIR=str(var),
        STRANGLER_QUEUE_PREFIX=f"t{random_suffix()}",
        STRANGLER_REAL_POSTGRES_URL=ADMIN_URL,
        STRANGLER_REAL_REDIS_URL=REDIS_URL,
        STRANGLER_REAL_DB_PREFIX=prefix,
    )
    argv = [sys.executable, "-m", "strangler.cli", "up", "--real", "--products", "20"]
    up = ServerProcess(
        "strangler-up-real",
        [*argv, *up_port_options(ports)],
        env=env,
        log_dir=base,
        cwd=REPO_ROOT,
        inherit_env=False,
    )
    try:
        with up:
            wait_for(
                lambda: "Strangler Fig is up" in up.log_path.read_text(),
                timeout=180,
                message=f"the ready banner\n{up.log_tail()}",
            )
            yield RealStack(up, ports, prefix, var, env)
    finally:
        drop_owner_databases(prefix)


def test_it_creates_each_owners_database_and_role_and_says_so(stack: RealStack) -> None:
    log = stack.up.log_path.read_text()
    for owner in OWNER_URL_VARIABLES:
        name = f"{stack.prefix}{owner}"
        assert f"strangler up: created role {name}\n" in log
        assert f"strangler up: created database {name}, owned by {name}\n" in log
    assert f"(real mode: PostgreSQL {ADMIN_URL}, Redis {REDIS_URL})" in log


def test_each_process_gets_only_its_own_owners_database_urls(stack: RealStack) -> None:
    status = read_status(stack.var / "processes.json")
    expected = {
        "monolith": {"DATABASE_URL"},
        "relay": {"DATABASE_URL"},
        "inventory": {"INVENTORY_DATABASE_URL"},
        "worker-payments": {"PAYMENTS_DATABASE_URL"},
        "proxy": {"PROXY_DIFF_DATABASE_URL"},
        "relay-services": {
            "INVENTORY_DATABASE_URL",
            "PAYMENTS_DATABASE_URL",
            "ORDERS_DATABASE_URL",
        },
    }
    for process in status.processes:
        if process.name not in expected:
            continue
        assert process.pid is not None
        raw = Path(f"/proc/{process.pid}/environ").read_bytes().split(b"\0")
        environ = dict(e.decode().partition("=")[::2] for e in raw if e)
        given = {v for v in OWNER_URL_VARIABLES.values() if v in environ}
        assert given == expected[process.name], process.name
        assert environ["CELERY_BROKER_URL"] == REDIS_URL
        for variable in given:
            owner = next(o for o, v in OWNER_URL_VARIABLES.items() if v == variable)
            assert environ[variable] == stack.url_of(owner)

    # The owners' open connections are each to its own database, as its own role.
    with psycopg.connect(ADMIN_URL) as conn:
        sessions = conn.execute(
            "SELECT DISTINCT datname, usename FROM pg_stat_activity WHERE datname LIKE %s",
            (stack.prefix.replace("_", r"\_") + "%",),
        ).fetchall()
    assert {f"{stack.prefix}monolith", f"{stack.prefix}inventory"} <= {d for d, _ in sessions}
    assert all(database == role for database, role in sessions), sessions


def test_reads_through_the_proxy_and_syncs_a_write_through_redis(stack: RealStack) -> None:
    listing = httpx.get(f"{stack.proxy}/api/inventory/products/?page_size=5", timeout=10)
    assert listing.status_code == 200
    assert listing.headers["X-Strangler-Upstream"] == "monolith"
    assert listing.json()["count"] == 20

    # Inventory writes need a staff caller (docs/inventory-api.md, "Who may call").
    cli_env = {**stack.env, "DATABASE_URL": stack.url_of("monolith")}
    staff = f"up-real-staff-{random_suffix()}"
    token = run_to_end(issue_tokens_step([staff], staff=True, ttl_s=600), cli_env)
    sku = random_sku("up-real")
    created = httpx.post(
        f"{stack.proxy}/api/inventory/products/",
        json={"sku": sku, "name": "Real mug", "price": "9.90", "on_hand": 3},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert created.status_code == 201, created.text
    service = f"http://127.0.0.1:{stack.ports.inventory}/api/inventory/products/{sku}/"

    def synced() -> object:
        answer = httpx.get(service, timeout=5)
        return answer.json() if answer.status_code == 200 else None

    assert wait_for(synced, timeout=60, message="the product to reach the service") == (
        created.json()
    )
    with psycopg.connect(stack.url_of("inventory")) as conn:
        row = conn.execute("SELECT on_hand FROM products WHERE sku = %s", (sku,))
        assert row.fetchone() == (3,)


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_ctrl_c_stops_every_process(stack: RealStack) -> None:
    assert stack.up.proc is not None
    stack.up.proc.send_signal(signal.SIGINT)
    assert stack.up.proc.wait(timeout=30) is not None
    status = read_status(stack.var / "processes.json")
    assert {p.state for p in status.processes} == {"stopped"}
    for port in dataclasses.astuple(stack.ports):
        assert not _listening(port), f"something still listens on {port} after Ctrl-C"
