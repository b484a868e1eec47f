"""The two sides of a comparison as real processes on fresh PostgreSQL databases.

The monolith is migrated and seeded (``seed_inventory``), its rows are copied into the service's
database by ``tests/parity/copy_rows.py`` (the backfill's own functions), and then gunicorn serves
the monolith and uvicorn the service, each on a free port.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.ports import free_port
from tests.support.postgres import fresh_database
from tests.support.processes import REPO_ROOT, VENV_BIN, ServerProcess

PRODUCTS = 60
RESERVATIONS = 25


@dataclass(frozen=True)
class Sides:
    monolith_url: str
    service_url: str
    env: dict[str, str]
    #: The seeded reservations as copied: id, order_id, status.
    reservations: list[dict[str, str]]
    logs: Path


def _run(argv: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(argv, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{' '.join(argv)} failed:\n{done.stdout}{done.stderr}"
    return done.stdout


@contextmanager
def running_sides(logs: Path) -> Iterator[Sides]:
    """Migrate and seed the monolith, copy its rows to the service, serve both."""
    with ExitStack() as stack:
        monolith_db = stack.enter_context(fresh_database("par_mono"))
        service_db = stack.enter_context(fresh_database("par_inv"))
        env = {
            **os.environ,
            "DATABASE_URL": monolith_db,
            "INVENTORY_DATABASE_URL": service_db,
            "STRANGLER_VAR_DIR": str(logs / "var"),
            "DJANGO_SETTINGS_MODULE": "monolith.settings",
        }
        _run([sys.executable, "monolith/manage.py", "migrate", "--noinput"], env)
        _run(
            [
                sys.executable,
                "monolith/manage.py",
                "seed_inventory",
                "--products",
                str(PRODUCTS),
                "--reservations",
                str(RESERVATIONS),
            ],
            env,
        )
        _run([sys.executable, "-m", "extracted.inventory.migrate"], env)
        copied = json.loads(_run([sys.executable, "-m", "tests.parity.copy_rows"], env))
        assert copied["products"] == PRODUCTS

        monolith_port, service_port = free_port(), free_port()
        monolith = ServerProcess(
            "monolith",
            [
                str(VENV_BIN / "gunicorn"),
                "monolith.wsgi:application",
                "--bind",
                f"127.0.0.1:{monolith_port}",
                "--workers",
                "1",
                "--threads",
                "4",
            ],
            env=env,
            log_dir=logs,
        )
        service = ServerProcess(
            "inventory",
            [
                str(VENV_BIN / "uvicorn"),
                "extracted.inventory.main:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(service_port),
                "--no-access-log",
            ],
            env=env,
            log_dir=logs,
        )
        for proc, port in ((monolith, monolith_port), (service, service_port)):
            stack.enter_context(proc)
            proc.wait_http_ok(f"http://127.0.0.1:{port}/health/ready", timeout=60)
        yield Sides(
            f"http://127.0.0.1:{monolith_port}",
            f"http://127.0.0.1:{service_port}",
            env,
            copied["reservations"],
            logs,
        )


def drift_product(sides: Sides, sku: str) -> None:
    """Make the service's copy of ``sku`` differ from the monolith's (see copy_rows --drift)."""
    _run([sys.executable, "-m", "tests.parity.copy_rows", "--drift", sku], sides.env)


def reservation_by_status(sides: Sides, status: str) -> dict[str, Any]:
    for reservation in sides.reservations:
        if reservation["status"] == status:
            return reservation
    raise AssertionError(f"the seed made no {status} reservation; raise RESERVATIONS")
