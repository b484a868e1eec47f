"""Migrated template databases: each kind of database (the monolith's, each service's) is migrated
once per test run, and every test database of that kind is a copy of it (``CREATE DATABASE …
TEMPLATE …``), which costs a file copy instead of a migration.

A template's name holds the test run's id and the hash of its kind's migrations, so suites that
run at once on one PostgreSQL (other checkouts, other runs) never share one. The first process of
a run (xdist worker) that needs a template builds it under a PostgreSQL advisory lock; the others
wait on the lock and then copy. The process that started the run drops the run's templates at the
end (``drop_run_templates``, called from ``tests/conftest.py``).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from extracted.inventory import migrate as inventory_migrate
from extracted.orders import migrate as orders_migrate
from extracted.payments import migrate as payments_migrate
from tests.support.postgres import ADMIN_URL, database_url, drop_database, fresh_database
from tests.support.processes import REPO_ROOT

#: The test run's id, shared by the xdist workers (they inherit the controller's environment).
RUN_ID_ENV = "STRANGLER_TEST_RUN_ID"
_PREFIX = "sft"


def start_run() -> bool:
    """Give this test run an id unless a parent process already did; True when this process is
    the one that started the run (and so drops its templates at the end)."""
    if os.environ.get(RUN_ID_ENV):
        return False
    os.environ[RUN_ID_ENV] = uuid.uuid4().hex[:10]
    return True


def _run_id() -> str:
    run_id = os.environ.get(RUN_ID_ENV)
    if not run_id:
        raise RuntimeError(f"{RUN_ID_ENV} is not set: tests/conftest.py sets it for each run")
    return run_id


def _migrate_monolith(url: str) -> None:
    with tempfile.TemporaryDirectory() as var:
        env = {**os.environ, "DATABASE_URL": url, "STRANGLER_VAR_DIR": var}
        done = subprocess.run(
            [sys.executable, "monolith/manage.py", "migrate", "--noinput"],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
    if done.returncode != 0:
        raise RuntimeError(
            f"could not migrate the monolith's template:\n{done.stdout}{done.stderr}"
        )


@dataclass(frozen=True)
class Schema:
    """A kind of database: the files that define its migrations, and how to apply them."""

    kind: str
    migrations: tuple[str, ...]
    migrate: Callable[[str], None]

    def digest(self) -> str:
        """A hash of the migrations' content: a changed migration gets a new template."""
        digest = hashlib.sha256()
        for pattern in self.migrations:
            for path in sorted(REPO_ROOT.glob(pattern)):
                digest.update(str(path.relative_to(REPO_ROOT)).encode())
                digest.update(path.read_bytes())
        return digest.hexdigest()[:10]

    def template_name(self) -> str:
        return f"{_PREFIX}_{self.kind}_{self.digest()}_{_run_id()}"


SCHEMAS = {
    schema.kind: schema
    for schema in (
        Schema("monolith", ("monolith/*/migrations/*.py",), _migrate_monolith),
        Schema("inventory", ("extracted/inventory/alembic/**/*.py",), inventory_migrate.upgrade),
        Schema("payments", ("extracted/payments/alembic/**/*.py",), payments_migrate.upgrade),
        Schema("orders", ("extracted/orders/alembic/**/*.py",), orders_migrate.upgrade),
    )
}

_built: dict[str, str] = {}


def template(kind: str) -> str:
    """The name of this run's migrated template of ``kind`` (``SCHEMAS``), built on first use."""
    if kind in _built:
        return _built[kind]
    schema = SCHEMAS[kind]
    name = schema.template_name()
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        # Held until this connection closes: one builder per template, the others wait for it.
        admin.execute("SELECT pg_advisory_lock(hashtext(%s))", (name,))
        found = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if found is None:
            _build(admin, schema, name)
    _built[kind] = name
    return name


def _build(admin: psycopg.Connection[Any], schema: Schema, name: str) -> None:
    """Migrate a database under a scratch name and rename it only once it is complete, so a
    build that fails (or a process killed halfway) never leaves a half-migrated template."""
    scratch = f"{name}_new"
    admin.execute(
        sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(scratch))
    )
    admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(scratch)))
    try:
        schema.migrate(database_url(scratch))
        admin.execute(
            sql.SQL("ALTER DATABASE {} RENAME TO {}").format(
                sql.Identifier(scratch), sql.Identifier(name)
            )
        )
    except BaseException:
        drop_database(admin, scratch)
        raise


@contextmanager
def migrated_database(kind: str, hint: str) -> Iterator[str]:
    """A fresh database of ``kind`` (``SCHEMAS``) at its migrations' head; dropped afterwards."""
    with fresh_database(hint, template=template(kind)) as url:
        yield url


#: Each owner's kind of database, the environment variable it reads the URL from
#: (docs/components.md), and the hint of its test databases' names.
OWNER_DATABASES = (
    ("monolith", "DATABASE_URL", "mono"),
    ("inventory", "INVENTORY_DATABASE_URL", "inv"),
    ("payments", "PAYMENTS_DATABASE_URL", "pay"),
    ("orders", "ORDERS_DATABASE_URL", "ord"),
)


@contextmanager
def fresh_owner_databases(hint: str, *, migrated: bool = False) -> Iterator[dict[str, str]]:
    """A fresh database for each owner, as the environment variables they read: empty, or at
    their migrations' head when ``migrated``."""
    with ExitStack() as stack:
        urls = {}
        for kind, variable, short in OWNER_DATABASES:
            name = f"{hint}_{short}"
            database = migrated_database(kind, name) if migrated else fresh_database(name)
            urls[variable] = stack.enter_context(database)
        yield urls


def drop_run_templates() -> None:
    """Drop every template this run built (the run's last step)."""
    pattern = f"{_PREFIX}\\_%\\_{_run_id()}%"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        names = [
            row[0]
            for row in admin.execute(
                "SELECT datname FROM pg_database WHERE datname LIKE %s", (pattern,)
            )
        ]
        for name in names:
            drop_database(admin, name)
