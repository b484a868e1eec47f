"""The two sides of a comparison as real processes on fresh PostgreSQL databases.

The monolith is migrated and seeded (the stack's preparation steps), its rows are copied into the
inventory service's database by ``tests/parity/copy_rows.py`` (the backfill's own functions),
payments made by the monolith's own code are copied into the payments service's database by
``tests/parity/copy_payments.py``, and then the stack's gunicorn serves the monolith and its
uvicorn each service, each on a free port.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from strangler.stack import Ports
from tests.support.components import StackUrls, free_ports, prepare, running
from tests.support.database_templates import fresh_owner_databases
from tests.support.processes import REPO_ROOT

PRODUCTS = 60
RESERVATIONS = 25


@dataclass(frozen=True)
class Sides(StackUrls):
    ports: Ports
    env: dict[str, str]
    #: The seeded reservations as copied: id, order_id, status.
    reservations: list[dict[str, str]]
    logs: Path
    #: What the scenarios read through ``{env:NAME}``: tokens (a customer's, another's, staff's:
    #: the inventory scenario writes as staff) and the payments scenario's payment ids.
    payments_env: dict[str, str] = field(default_factory=dict)


def _run(argv: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(argv, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{' '.join(argv)} failed:\n{done.stdout}{done.stderr}"
    return done.stdout


@contextmanager
def running_sides(logs: Path) -> Iterator[Sides]:
    """Seed the monolith (its database a copy of the run's migrated template), copy its rows to
    the service, serve both."""
    with ExitStack() as stack:
        env = {
            **os.environ,
            **stack.enter_context(fresh_owner_databases("par", migrated=True)),
            "STRANGLER_VAR_DIR": str(logs / "var"),
            "DJANGO_SETTINGS_MODULE": "monolith.settings",
        }
        prepare(env, products=PRODUCTS, reservations=RESERVATIONS, migrated=True)
        copied = json.loads(_run([sys.executable, "-m", "tests.parity.copy_rows"], env))
        assert copied["products"] == PRODUCTS
        payments = json.loads(_run([sys.executable, "-m", "tests.parity.copy_payments"], env))
        assert payments["copied"] > 0

        ports = free_ports()
        names = ["monolith", "inventory", "payments"]
        stack.enter_context(running(names, ports=ports, env=env, log_dir=logs))
        yield Sides(ports, env, copied["reservations"], logs, payments["env"])


def drift_product(sides: Sides, sku: str) -> None:
    """Make the service's copy of ``sku`` differ from the monolith's (see copy_rows --drift)."""
    _run([sys.executable, "-m", "tests.parity.copy_rows", "--drift", sku], sides.env)


def reservation_by_status(sides: Sides, status: str) -> dict[str, Any]:
    for reservation in sides.reservations:
        if reservation["status"] == status:
            return reservation
    raise AssertionError(f"the seed made no {status} reservation; raise RESERVATIONS")
