"""`strangler up`: the whole stack on the embedded default, in the foreground; Ctrl-C stops it.

A process that dies is restarted with backoff while the others keep serving
(strangler/supervisor.py); `strangler up --status` lists each process of the running stack.

Embedded default: one SQLite file per database and the kombu filesystem broker under the var
folder, so nothing needs installing. ``--real``: the same processes on PostgreSQL (a database and
a role per owner, created when missing: strangler/real_mode.py) and Redis as the broker.
"""

from __future__ import annotations

import asyncio
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from contracts.process_status import (
    STATUS_FILE_NAME,
    StatusUnavailable,
    describe_exit,
    pid_alive,
    read_status,
    uptime_s,
)
from strangler.real_mode import (
    DEFAULT_POSTGRES_URL,
    DEFAULT_PREFIX,
    DEFAULT_REDIS_URL,
    OWNER_URL_VARIABLES,
    RealModeError,
    check_redis,
    provision,
    redacted,
)
from strangler.stack import (
    ADMIN_ACCOUNT,
    ADMIN_PASSWORD_FILE,
    REPO_ROOT,
    Ports,
    ProcessSpec,
    admin_account_step,
    ensure_sync_token,
    orders_service_account,
    preparation_steps,
    stack_environment,
    stack_processes,
    var_dir,
    write_routes_file,
)
from strangler.supervisor import Supervisor


def _run_step(what: str, argv: list[str], env: dict[str, str]) -> None:
    """One preparation command; its output and exit 1 when it fails."""
    typer.echo(f"strangler up: {what}")
    done = subprocess.run(argv, env=env, cwd=REPO_ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        typer.echo(f"strangler up: could not {what}:\n{done.stdout}{done.stderr}", err=True)
        raise typer.Exit(1)


def _prepare(
    env: dict[str, str], ports: Ports, products: int, databases: Mapping[str, str]
) -> None:
    """Migrate, seed and write the route file before any server starts (fails fast, exit 1).
    ``databases``: every owner's URL variable in real mode (each step opens its own owner's)."""

    def run(what: str, argv: list[str]) -> None:
        _run_step(what, argv, {**env, **databases})

    for what, argv in preparation_steps(products):
        run(what, argv)
    var = Path(env["STRANGLER_VAR_DIR"])
    if not (env.get("ORDERS_SERVICE_TOKEN") or env.get("ORDERS_SERVICE_USERNAME")):
        argv, account_env = orders_service_account(var)
        env.update(account_env)
        run("set up the orders service's account", argv)
    run(f"set up the Django admin's superuser {ADMIN_ACCOUNT!r}", admin_account_step(var))
    if not env.get("STRANGLER_SYNC_TOKEN"):
        ensure_sync_token(var)
    routes = Path(env["PROXY_ROUTES_FILE"])
    if not routes.exists():
        write_routes_file(routes, ports)
        typer.echo(f"strangler up: wrote the route file {routes}")


def _real_mode(
    env: dict[str, str], specs: list[ProcessSpec], postgres: str, redis: str, prefix: str
) -> tuple[list[ProcessSpec], dict[str, str]]:
    """Check Redis, create what PostgreSQL lacks (one line each), point the broker at Redis;
    each process gets the URLs of the databases it opens, and only those. Returns the specs and
    every owner's URL variable (for the preparation steps)."""
    try:
        check_redis(redis)
        done = provision(postgres, prefix, Path(env["STRANGLER_VAR_DIR"]))
    except RealModeError as err:
        typer.echo(f"strangler up: {err}", err=True)
        raise typer.Exit(1) from None
    for line in done.report:
        typer.echo(f"strangler up: {line}")
    env["CELERY_BROKER_URL"] = redis
    for variable in OWNER_URL_VARIABLES.values():
        # One owner's URL in the shared environment would reach every other owner's processes.
        env.pop(variable, None)
    variables = {OWNER_URL_VARIABLES[owner]: url for owner, url in done.urls.items()}
    specs = [
        replace(spec, env=tuple((OWNER_URL_VARIABLES[o], done.urls[o]) for o in spec.databases))
        for spec in specs
    ]
    return specs, variables


def _announce_when_ready(ports: Ports, urls: list[str], stop: threading.Event, mode: str) -> None:
    """Print the URLs once every server answers its readiness check."""
    pending = list(urls)
    while pending and not stop.is_set():
        # urllib rather than httpx: this process stays up as the supervisor, and one GET a
        # fifth of a second is not worth an HTTP library's memory there.
        try:
            with urllib.request.urlopen(pending[0], timeout=1.0) as resp:
                if resp.status == 200:
                    pending.pop(0)
                    continue
        except (OSError, urllib.error.URLError):
            pass
        time.sleep(0.2)
    if stop.is_set():
        return
    password = var_dir() / ADMIN_PASSWORD_FILE
    banner = f"""
  Strangler Fig is up ({mode})
    start page (every link)    http://127.0.0.1:{ports.admin}/  (token: var/admin-token)
    proxy (send traffic here)  http://127.0.0.1:{ports.proxy}/api/inventory/products/
    monolith (Django)          http://127.0.0.1:{ports.monolith}/api/inventory/products/
    monolith API docs          http://127.0.0.1:{ports.monolith}/api/schema/swagger-ui/
    monolith admin             http://127.0.0.1:{ports.monolith}/admin/
                               (user {ADMIN_ACCOUNT}, password in {password})
    inventory service          http://127.0.0.1:{ports.inventory}/api/inventory/products/
    payments service           http://127.0.0.1:{ports.payments}/api/payments/  (bearer token)
    orders service             http://127.0.0.1:{ports.orders}/api/orders/
    services' API docs         /docs on each service, e.g. http://127.0.0.1:{ports.inventory}/docs
    proxy admin API            http://127.0.0.1:{ports.admin}/admin/routes  (token: var/admin-token)
    processes                  `strangler up --status`, or the admin API's /admin/processes
  A process that dies is restarted. Next: `strangler routes list`, `strangler plan status`.
  Ctrl-C stops everything.
"""
    print(banner, flush=True)


def _uptime(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    whole = int(seconds)
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m{whole % 60:02d}s"


def print_status(path: Path) -> None:
    """One line per process of the stack the supervisor at ``path`` runs; exit 1 with one line
    when no stack runs there."""
    try:
        status = read_status(path)
    except StatusUnavailable as err:
        typer.echo(f"strangler up --status: {err}", err=True)
        raise typer.Exit(1) from None
    if not pid_alive(status.supervisor_pid):
        typer.echo(
            f"strangler up --status: strangler up (pid {status.supervisor_pid}) is not running;"
            f" {path} was last written {status.updated_at:%Y-%m-%d %H:%M:%S} UTC",
            err=True,
        )
        raise typer.Exit(1)
    now = datetime.now(UTC)
    width = max(len(p.name) for p in status.processes)
    typer.echo(
        f"{'PROCESS':<{width}}  {'STATE':<7}  {'PID':>7}  {'RESTARTS':>8}  "
        f"{'LAST EXIT':<18}  UPTIME"
    )
    for p in status.processes:
        pid = str(p.pid) if p.pid is not None else "-"
        typer.echo(
            f"{p.name:<{width}}  {p.state:<7}  {pid:>7}  {p.restarts:>8}  "
            f"{describe_exit(p.last_exit):<18}  {_uptime(uptime_s(p, now))}"
        )


def _refuse_second_supervisor(path: Path) -> None:
    """One stack per var folder: a second would overwrite the first's status file."""
    try:
        running = read_status(path)
    except StatusUnavailable:
        return
    if pid_alive(running.supervisor_pid):
        typer.echo(
            f"strangler up: a stack already runs on {path.parent} (strangler up, pid "
            f"{running.supervisor_pid}); stop it, or set STRANGLER_VAR_DIR to another folder",
            err=True,
        )
        raise typer.Exit(1)


def up(
    products: Annotated[int, typer.Option(help="Demo products to seed (0: none).", min=0)] = 200,
    monolith_port: Annotated[int, typer.Option(help="Monolith port.")] = 8000,
    inventory_port: Annotated[int, typer.Option(help="Inventory service port.")] = 8101,
    proxy_port: Annotated[int, typer.Option(help="Proxy port.")] = 8080,
    admin_port: Annotated[int, typer.Option(help="Proxy admin API port.")] = 8081,
    payments_port: Annotated[int, typer.Option(help="Payments service port.")] = 8102,
    orders_port: Annotated[int, typer.Option(help="Orders service port.")] = 8103,
    real: Annotated[
        bool,
        typer.Option(
            "--real",
            help="Run on PostgreSQL and Redis: a database and a role per owner, created when"
            " missing.",
        ),
    ] = False,
    postgres: Annotated[
        str,
        typer.Option(
            envvar="STRANGLER_REAL_POSTGRES_URL",
            help="With --real: the PostgreSQL URL of a role that may create roles and databases.",
        ),
    ] = DEFAULT_POSTGRES_URL,
    redis: Annotated[
        str,
        typer.Option(envvar="STRANGLER_REAL_REDIS_URL", help="With --real: the Redis broker."),
    ] = DEFAULT_REDIS_URL,
    db_prefix: Annotated[
        str,
        typer.Option(
            envvar="STRANGLER_REAL_DB_PREFIX",
            help="With --real: the prefix of each owner's database and role name.",
        ),
    ] = DEFAULT_PREFIX,
    status: Annotated[
        bool,
        typer.Option(
            "--status",
            help="Start nothing: list each process of the stack running on this var folder.",
        ),
    ] = False,
) -> None:
    """Start the monolith, the inventory, payments and orders services, the proxy, Celery workers
    and the outbox relays (forward and reverse); restart any that dies; Ctrl-C stops them."""
    vd = var_dir()
    status_path = vd / STATUS_FILE_NAME
    if status:
        print_status(status_path)
        return
    _refuse_second_supervisor(status_path)
    ports = Ports(monolith_port, inventory_port, proxy_port, admin_port, payments_port, orders_port)
    vd.mkdir(parents=True, exist_ok=True)
    env = stack_environment(ports)
    specs = stack_processes(ports)
    databases: dict[str, str] = {}
    mode = f"embedded default, files in {vd}"
    if real:
        specs, databases = _real_mode(env, specs, postgres, redis, db_prefix)
        mode = f"real mode: PostgreSQL {redacted(postgres)}, Redis {redacted(redis)}"
    _prepare(env, ports, products, databases)
    # _prepare migrated every service's database: a service need not migrate again at each
    # start and restart, nor load Alembic for it (some 10 MiB a service).
    for service in ("INVENTORY", "PAYMENTS", "ORDERS"):
        env.setdefault(f"{service}_MIGRATE_ON_START", "0")

    supervisor = Supervisor(specs, env=env, cwd=REPO_ROOT, status_path=status_path)
    stop = threading.Event()
    urls = [spec.ready_url for spec in specs if spec.ready_url]
    threading.Thread(
        target=_announce_when_ready, args=(ports, urls, stop, mode), daemon=True
    ).start()
    try:
        asyncio.run(supervisor.run())
    finally:
        stop.set()
