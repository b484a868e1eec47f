"""`strangler up --real`'s provisioning (strangler/real_mode.py) on the real PostgreSQL: one
database and one role per owner, each closed to the other owners' roles, created once; and bad
input refused with one line before anything is created."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from strangler.real_mode import OWNER_URL_VARIABLES, PASSWORDS_FILE_NAME, RealModeError, provision
from tests.conftest import REDIS_URL
from tests.support.components import free_ports, up_port_options
from tests.support.postgres import ADMIN_URL
from tests.support.processes import REPO_ROOT

#: The server's refusal of a role without CONNECT on a database. libpq reports a refused
#: connection without its SQLSTATE, so psycopg raises OperationalError, not InsufficientPrivilege.
NO_CONNECT = "User does not have CONNECT privilege"


def _names_on_server(prefix: str) -> tuple[set[str], set[str]]:
    """The databases and the roles whose name starts with ``prefix``."""
    like = prefix.replace("_", r"\_") + "%"
    with psycopg.connect(ADMIN_URL) as conn:
        databases = conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s", (like,)
        ).fetchall()
        roles = conn.execute(
            "SELECT rolname FROM pg_roles WHERE rolname LIKE %s", (like,)
        ).fetchall()
    return {d for (d,) in databases}, {r for (r,) in roles}


def test_provisions_each_owner_once_and_closes_each_database_to_the_others(
    real_mode_prefix: str, tmp_path: Path
) -> None:
    first = provision(ADMIN_URL, real_mode_prefix, tmp_path)

    expected = {f"{real_mode_prefix}{owner}" for owner in OWNER_URL_VARIABLES}
    assert _names_on_server(real_mode_prefix) == (expected, expected)
    assert len(expected) == 5
    for name in sorted(expected):
        assert f"created role {name}" in first.report
        assert f"created database {name}, owned by {name}" in first.report
    passwords = tmp_path / PASSWORDS_FILE_NAME
    assert stat.S_IMODE(passwords.stat().st_mode) == 0o600

    again = provision(ADMIN_URL, real_mode_prefix, tmp_path)
    assert again.report[:-1] == [line.replace("created", "found") for line in first.report]
    assert again.report[-1] == "nothing to create: every owner's role and database exists"
    assert again.urls == first.urls

    # Each owner's role connects to its own database, as itself ...
    with psycopg.connect(first.urls["inventory"]) as own:
        assert own.execute("SELECT current_user, current_database()").fetchone() == (
            f"{real_mode_prefix}inventory",
            f"{real_mode_prefix}inventory",
        )
    # ... and not to another owner's, nor does the monolith's role reach a service's.
    inventory_in_payments = first.urls["inventory"].rsplit("/", 1)[0] + (
        f"/{real_mode_prefix}payments"
    )
    with pytest.raises(psycopg.OperationalError, match=NO_CONNECT):
        psycopg.connect(inventory_in_payments).close()
    monolith_in_orders = first.urls["monolith"].rsplit("/", 1)[0] + f"/{real_mode_prefix}orders"
    with pytest.raises(psycopg.OperationalError, match=NO_CONNECT):
        psycopg.connect(monolith_in_orders).close()


def test_a_found_database_open_to_everyone_is_closed(real_mode_prefix: str, tmp_path: Path) -> None:
    name = sql.Identifier(f"{real_mode_prefix}orders")
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(name))
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(name, name))

    done = provision(ADMIN_URL, real_mode_prefix, tmp_path)

    orders = f"{real_mode_prefix}orders"
    assert f"found role {orders}; set a new password (none was kept)" in done.report
    assert f"revoked CONNECT on database {orders} from PUBLIC" in done.report
    payments_in_orders = done.urls["payments"].rsplit("/", 1)[0] + f"/{orders}"
    with pytest.raises(psycopg.OperationalError, match=NO_CONNECT):
        psycopg.connect(payments_in_orders).close()


def test_a_role_that_cannot_log_in_stops_it_before_anything_is_created(
    real_mode_prefix: str, tmp_path: Path
) -> None:
    clash = f"{real_mode_prefix}payments"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(clash)))

    with pytest.raises(RealModeError, match=f"role {clash} exists but cannot log in"):
        provision(ADMIN_URL, real_mode_prefix, tmp_path)

    assert _names_on_server(real_mode_prefix) == (set(), {clash})


def _up_real(tmp_path: Path, *options: str) -> subprocess.CompletedProcess[str]:
    """`strangler up --real` with ``options``, on free ports in case it got as far as starting."""
    env = {**os.environ, "STRANGLER_VAR_DIR": str(tmp_path / "var")}
    argv = [sys.executable, "-m", "strangler.cli", "up", "--real", "--products", "0"]
    argv += up_port_options(free_ports())
    return subprocess.run(
        [*argv, *options], env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            ["--postgres", "postgresql://postgres@127.0.0.1:1/postgres"],
            "strangler up: PostgreSQL is not reachable at postgresql://postgres@127.0.0.1:1/postgres",
        ),
        (
            ["--redis", "redis://127.0.0.1:1/0"],
            "strangler up: Redis is not reachable at redis://127.0.0.1:1/0",
        ),
        (["--db-prefix", "Bad-Prefix"], "strangler up: database prefix 'Bad-Prefix': use"),
    ],
    ids=["postgres-unreachable", "redis-unreachable", "bad-prefix"],
)
def test_up_real_refuses_bad_input_with_one_line_and_creates_nothing(
    real_mode_prefix: str, tmp_path: Path, options: list[str], message: str
) -> None:
    done = _up_real(
        tmp_path,
        "--db-prefix",
        real_mode_prefix,
        "--redis",
        REDIS_URL,
        "--postgres",
        ADMIN_URL,
        *options,
    )

    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), done.stderr
    assert _names_on_server(real_mode_prefix) == (set(), set())
