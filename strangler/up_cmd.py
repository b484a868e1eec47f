"""`strangler up`: the whole stack on the embedded default, in the foreground; Ctrl-C stops it.

Embedded default: one SQLite file per database and the kombu filesystem broker under the var
folder, so nothing needs installing. Set DATABASE_URL / INVENTORY_DATABASE_URL / CELERY_BROKER_URL
to run the same processes on PostgreSQL and Redis.
"""

from __future__ import annotations

import shlex
import subprocess
import threading
import time
from pathlib import Path
from typing import Annotated

import httpx
import typer
from honcho.manager import Manager

from strangler.stack import (
    REPO_ROOT,
    Ports,
    ensure_sync_token,
    orders_service_account,
    preparation_steps,
    stack_environment,
    stack_processes,
    var_dir,
    write_routes_file,
)


def _prepare(env: dict[str, str], ports: Ports, products: int) -> None:
    """Migrate, seed and write the route file before any server starts (fails fast, exit 1)."""
    for what, argv in preparation_steps(products):
        typer.echo(f"strangler up: {what}")
        done = subprocess.run(argv, env=env, cwd=REPO_ROOT, capture_output=True, text=True)
        if done.returncode != 0:
            typer.echo(f"strangler up: could not {what}:\n{done.stdout}{done.stderr}", err=True)
            raise typer.Exit(1)
    if not (env.get("ORDERS_SERVICE_TOKEN") or env.get("ORDERS_SERVICE_USERNAME")):
        typer.echo("strangler up: set up the orders service's account")
        argv, account_env = orders_service_account(Path(env["STRANGLER_VAR_DIR"]))
        env.update(account_env)
        done = subprocess.run(argv, env=env, cwd=REPO_ROOT, capture_output=True, text=True)
        if done.returncode != 0:
            typer.echo(f"strangler up: could not set it up:\n{done.stdout}{done.stderr}", err=True)
            raise typer.Exit(1)
    if not env.get("STRANGLER_SYNC_TOKEN"):
        ensure_sync_token(Path(env["STRANGLER_VAR_DIR"]))
    routes = Path(env["PROXY_ROUTES_FILE"])
    if not routes.exists():
        write_routes_file(routes, ports)
        typer.echo(f"strangler up: wrote the route file {routes}")


def _announce_when_ready(ports: Ports, urls: list[str], stop: threading.Event) -> None:
    """Print the URLs once every server answers its readiness check."""
    pending = list(urls)
    while pending and not stop.is_set():
        try:
            if httpx.get(pending[0], timeout=1.0).status_code == 200:
                pending.pop(0)
                continue
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    if stop.is_set():
        return
    banner = f"""
  Strangler Fig is up (embedded default, files in {var_dir()})
    proxy (send traffic here)  http://127.0.0.1:{ports.proxy}/api/inventory/products/
    monolith (Django)          http://127.0.0.1:{ports.monolith}/api/inventory/products/
    monolith admin             http://127.0.0.1:{ports.monolith}/admin/
    inventory service          http://127.0.0.1:{ports.inventory}/api/inventory/products/
    payments service           http://127.0.0.1:{ports.payments}/api/payments/  (bearer token)
    orders service             http://127.0.0.1:{ports.orders}/api/orders/
    proxy admin API            http://127.0.0.1:{ports.admin}/admin/routes  (token: var/admin-token)
  Next: `strangler routes list`, `strangler plan status`. Ctrl-C stops everything.
"""
    print(banner, flush=True)


def up(
    products: Annotated[int, typer.Option(help="Demo products to seed (0: none).", min=0)] = 200,
    monolith_port: Annotated[int, typer.Option(help="Monolith port.")] = 8000,
    inventory_port: Annotated[int, typer.Option(help="Inventory service port.")] = 8101,
    proxy_port: Annotated[int, typer.Option(help="Proxy port.")] = 8080,
    admin_port: Annotated[int, typer.Option(help="Proxy admin API port.")] = 8081,
    payments_port: Annotated[int, typer.Option(help="Payments service port.")] = 8102,
    orders_port: Annotated[int, typer.Option(help="Orders service port.")] = 8103,
) -> None:
    """Start the monolith, the inventory, payments and orders services, the proxy, Celery workers
    and the outbox relays (forward and reverse); Ctrl-C stops them."""
    ports = Ports(monolith_port, inventory_port, proxy_port, admin_port, payments_port, orders_port)
    vd = var_dir()
    vd.mkdir(parents=True, exist_ok=True)
    env = stack_environment(ports)
    _prepare(env, ports, products)

    manager = Manager()
    specs = stack_processes(ports)
    for spec in specs:
        manager.add_process(spec.name, shlex.join(spec.argv), env=env, cwd=str(REPO_ROOT))
    stop = threading.Event()
    urls = [spec.ready_url for spec in specs if spec.ready_url]
    threading.Thread(target=_announce_when_ready, args=(ports, urls, stop), daemon=True).start()
    try:
        manager.loop()
    finally:
        stop.set()
    raise typer.Exit(manager.returncode or 0)
