"""The processes that make up the stack, in one place: `strangler up` runs them, tests start them.

docker-compose.yml runs the same entry points on real PostgreSQL and Redis.
"""

from __future__ import annotations

import os
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Final

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_ROUTES = REPO_ROOT / "proxy" / "routes.default.yaml"


def var_dir() -> Path:
    """The folder every process keeps its files in (``STRANGLER_VAR_DIR``, default ``./var``)."""
    return Path(os.environ.get("STRANGLER_VAR_DIR", "var")).resolve()


def routes_file_path(given: Path | None = None) -> Path:
    """The route file the CLI works on: ``given``, else ``$PROXY_ROUTES_FILE``, else
    ``$STRANGLER_VAR_DIR/routes.yaml``."""
    if given is not None:
        return given
    env = os.environ.get("PROXY_ROUTES_FILE")
    return Path(env) if env else var_dir() / "routes.yaml"


@dataclass(frozen=True)
class Ports:
    monolith: int = 8000
    inventory: int = 8101
    proxy: int = 8080
    admin: int = 8081
    payments: int = 8102
    orders: int = 8103


@dataclass(frozen=True)
class ProcessSpec:
    name: str
    argv: tuple[str, ...]
    #: URL that answers 200 once the process serves (None for workers).
    ready_url: str | None = None
    #: The owners whose database it opens (``strangler.real_mode.OWNER_URL_VARIABLES``): real
    #: mode hands it those owners' URLs, and no other's.
    databases: tuple[str, ...] = ()
    #: Environment of this process only, over the stack's shared one.
    env: tuple[tuple[str, str], ...] = ()


#: The monolith's request threads, shared out among its worker processes.
MONOLITH_THREADS: Final = 8


def _bin(name: str) -> str:
    """A console script installed beside the running interpreter (the project's venv)."""
    return str(Path(sys.executable).parent / name)


def stack_processes(ports: Ports, *, monolith_workers: int = 1) -> list[ProcessSpec]:
    """Every process of the stack, in start order.

    The monolith serves with ``MONOLITH_THREADS`` gthread threads, in ``monolith_workers``
    processes: one by default, as each worker process holds the whole of Django, DRF and the
    monolith's code (some 95 MiB); the benchmarks that measure the monolith's own rates run two.

    The Celery workers run a thread pool: their tasks wait on databases and the broker, not on the
    CPU, and a thread pool stops within seconds when the process group gets SIGTERM (Ctrl-C
    under `strangler up`), where a prefork pool on the embedded broker hangs until killed.
    """
    return [
        ProcessSpec(
            "monolith",
            (
                _bin("gunicorn"),
                "monolith.wsgi:application",
                "--bind",
                f"127.0.0.1:{ports.monolith}",
                "--workers",
                str(monolith_workers),
                "--worker-class",
                "gthread",
                "--threads",
                str(MONOLITH_THREADS // monolith_workers),
                "--access-logfile",
                "-",
                # Successful polls by the stack's own processes stay out of the log.
                "--logger-class",
                "monolith.access_log.PollsLeftOut",
                # gunicorn's control socket has one default path per user: several monoliths on
                # one machine (tests, benchmarks) would fight over it, and nothing here uses it.
                "--no-control-socket",
            ),
            ready_url=f"http://127.0.0.1:{ports.monolith}/health/ready",
            databases=("monolith",),
        ),
        _service("inventory", ports.inventory),
        _service("payments", ports.payments),
        _service("orders", ports.orders),
        ProcessSpec(
            "proxy",
            (sys.executable, "-m", "proxy"),
            ready_url=f"http://127.0.0.1:{ports.admin}/health",
            # Its diff store.
            databases=("proxy",),
        ),
        *(_worker(side) for side in ("monolith", "inventory", "payments", "orders")),
        # The outbox relay: wakes on the outbox's NOTIFY (PostgreSQL) or polls (SQLite).
        ProcessSpec("relay", (sys.executable, "-m", "sync.relay"), databases=("monolith",)),
        # The reverse relay: each service's own outbox to the monolith (reverse sync), sending
        # only what that service wrote while it is the source (docs/reverse-sync.md).
        ProcessSpec("relay-services", service_relay_argv(), databases=REVERSE_SYNCED),
    ]


#: The services whose own outbox flows back to the monolith.
REVERSE_SYNCED: Final = ("inventory", "payments", "orders")


def service_relay_argv(*capabilities: str) -> tuple[str, ...]:
    """The reverse relay's command line for ``capabilities`` (default: every service's, as the
    stack's ``relay-services`` runs it; one relay thread each, in one process)."""
    return (sys.executable, "-m", "sync.service_relay", *(capabilities or REVERSE_SYNCED))


def _service(name: str, port: int) -> ProcessSpec:
    """An extracted service (``extracted/<name>/main.py``) under uvicorn."""
    return ProcessSpec(
        name,
        (
            _bin("uvicorn"),
            f"extracted.{name}.main:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
            # No WebSocket endpoint: uvicorn's default would load a WebSocket library.
            "--ws",
            "none",
        ),
        ready_url=f"http://127.0.0.1:{port}/health/ready",
        databases=(name,),
    )


def _worker(side: str) -> ProcessSpec:
    """``worker-<side>``: the Celery worker of that side (``sync/<side>_worker.py``: the
    monolith's, or the event subscriber writing that service's database)."""
    return ProcessSpec(
        f"worker-{side}",
        (
            sys.executable,
            "-m",
            "sync.run_worker",
            "-A",
            f"sync.{side}_worker",
            "-n",
            f"{side}@%h",
            # A slot per backfill chain (sync.control.backfill.DEFAULT_PARALLEL ranges of a job
            # run at once), and events keep flowing beside them.
            "--concurrency",
            "4",
            "--loglevel",
            "INFO",
        ),
        databases=(side,),
    )


def stack_environment(ports: Ports, base: dict[str, str] | None = None) -> dict[str, str]:
    """Environment shared by every process of a locally started stack (and the CLI beside it)."""
    env = dict(os.environ if base is None else base)
    vd = var_dir() if "STRANGLER_VAR_DIR" not in env else Path(env["STRANGLER_VAR_DIR"])
    env.update(
        {
            "STRANGLER_VAR_DIR": str(vd),
            "PROXY_LISTEN": f"127.0.0.1:{ports.proxy}",
            "PROXY_ADMIN_LISTEN": f"127.0.0.1:{ports.admin}",
            "STRANGLER_MONOLITH_URL": f"http://127.0.0.1:{ports.monolith}",
            "STRANGLER_INVENTORY_URL": f"http://127.0.0.1:{ports.inventory}",
            "STRANGLER_PAYMENTS_URL": f"http://127.0.0.1:{ports.payments}",
            "STRANGLER_ORDERS_URL": f"http://127.0.0.1:{ports.orders}",
            "STRANGLER_PROXY_ADMIN_URL": f"http://127.0.0.1:{ports.admin}",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.setdefault("PROXY_ROUTES_FILE", str(vd / "routes.yaml"))
    # Every owner's absolute links name the façade, where clients reach the API.
    env.setdefault("STRANGLER_PUBLIC_ORIGIN", f"http://127.0.0.1:{ports.proxy}")
    # The façade every internal caller goes through (the orders saga, the monolith's calls of
    # moved capabilities): the proxy's public port, so its route table decides who answers.
    env.setdefault("STRANGLER_FACADE_URL", f"http://127.0.0.1:{ports.proxy}")
    env.setdefault("ORDERS_TOKEN_URL", f"http://127.0.0.1:{ports.monolith}/api/auth/token/")
    # Where each service learns which accounts' tokens the monolith revoked (contracts.revocations).
    env.setdefault(
        "STRANGLER_REVOCATIONS_URL",
        f"http://127.0.0.1:{ports.monolith}/internal/identity/revocations",
    )
    # The sync lag stored with each shadow mismatch: the age of the oldest unpublished event.
    env.setdefault("PROXY_SYNC_LAG_URL", f"http://127.0.0.1:{ports.monolith}/internal/outbox/stats")
    return env


def preparation_steps(products: int, *, reservations: int = 0) -> list[tuple[str, list[str]]]:
    """What runs, in order, before any server starts: schema migrations of each owner's database,
    then demo data: ``products`` products and ``reservations`` reservations (the seed skips rows
    that already exist, so it is safe on every start)."""
    steps = [
        ("migrate the monolith", [sys.executable, "monolith/manage.py", "migrate", "--noinput"]),
        ("migrate the inventory service", [sys.executable, "-m", "extracted.inventory.migrate"]),
        ("migrate the payments service", [sys.executable, "-m", "extracted.payments.migrate"]),
        ("migrate the orders service", [sys.executable, "-m", "extracted.orders.migrate"]),
    ]
    if products > 0:
        seed = [sys.executable, "monolith/manage.py", "seed_inventory", "--products", str(products)]
        what = f"seed {products} products"
        if reservations > 0:
            seed += ["--reservations", str(reservations)]
            what += f" and {reservations} reservations"
        steps.append((what, seed))
    return steps


#: The staff account the orders service calls payments and inventory as (clients/service_token.py).
ORDERS_SERVICE_ACCOUNT = "orders-service"


def issue_tokens_step(usernames: list[str], *, staff: bool, ttl_s: int) -> list[str]:
    """The command that prints a token for each of ``usernames``, one a line, creating the
    accounts that do not exist (staff ones with ``staff``)."""
    argv = [sys.executable, "monolith/manage.py", "issue_token", *usernames, "--create"]
    return argv + ["--staff"] * staff + ["--ttl-s", str(ttl_s)]


def orders_service_account(var: Path) -> tuple[list[str], dict[str, str]]:
    """The command that creates (or updates) the orders service's staff account, and the
    environment it and the orders service need: the account's password, generated once into
    ``$VAR/service-account-password`` (owner-only). The service signs in with it and renews its
    short-lived token before it expires (``extracted/orders/clients/service_token.py``), so no
    long-lived token exists to leak."""
    path = var / "service-account-password"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(secrets.token_urlsafe(32) + "\n")
    password = path.read_text(encoding="utf-8").strip()
    argv = [sys.executable, "monolith/manage.py", "ensure_service_account", ORDERS_SERVICE_ACCOUNT]
    env = {
        "STRANGLER_SERVICE_ACCOUNT_PASSWORD": password,
        "ORDERS_SERVICE_USERNAME": ORDERS_SERVICE_ACCOUNT,
        "ORDERS_SERVICE_PASSWORD": password,
    }
    return argv, env


#: The workshop's superuser of the Django admin; its password is in ``$VAR/admin-password``.
ADMIN_ACCOUNT: Final = "admin"
ADMIN_PASSWORD_FILE: Final = "admin-password"


def admin_account_step(var: Path) -> list[str]:
    """The command that creates the workshop's superuser ``ADMIN_ACCOUNT`` when it is missing,
    with the password in ``$VAR/admin-password`` (generated there, owner-only, the first time)."""
    return [
        sys.executable,
        "monolith/manage.py",
        "ensure_admin_account",
        ADMIN_ACCOUNT,
        "--password-file",
        str(var / ADMIN_PASSWORD_FILE),
    ]


def ensure_sync_token(var: Path) -> Path:
    """``$VAR/sync-token``: the bearer token of the owners' internal endpoints that are not reads
    (contracts.sync_token), generated once (owner-only file) unless it exists."""
    path = var / "sync-token"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(secrets.token_urlsafe(32) + "\n")
    return path


def write_routes_file(path: Path, ports: Ports) -> None:
    """Write the default route table for ``ports`` to ``path`` (nothing if it exists: it holds
    the flags someone has set)."""
    if path.exists():
        return
    text = DEFAULT_ROUTES.read_text(encoding="utf-8")
    text = text.replace("127.0.0.1:8000", f"127.0.0.1:{ports.monolith}")
    text = text.replace("127.0.0.1:8101", f"127.0.0.1:{ports.inventory}")
    text = text.replace("127.0.0.1:8102", f"127.0.0.1:{ports.payments}")
    text = text.replace("127.0.0.1:8103", f"127.0.0.1:{ports.orders}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
