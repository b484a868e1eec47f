"""``python -m extracted.payments.migrate`` (upgrade head, or one line and a non-zero exit), and
the migration's way down and up again on both dialects."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import create_engine, inspect

from extracted.chassis.web.db import normalise_url
from extracted.payments import migrate as payments_migrate
from tests.support.ports import free_port
from tests.support.processes import REPO_ROOT

TABLES = {
    "alembic_version",
    "backfill_checkpoints",
    "dead_letters",
    "idempotency_records",
    "outbox_events",
    "payments",
    "processed_events",
    "reconciliation_runs",
    "refunds",
    "sync_direction",
}


def migrate(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "extracted.payments.migrate"],
        cwd=REPO_ROOT,
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_migrates_the_embedded_default_and_is_repeatable(tmp_path: Path) -> None:
    env = {"STRANGLER_VAR_DIR": str(tmp_path / "var")}
    for _ in range(2):
        done = migrate(env)
        assert done.returncode == 0, done.stderr
    assert (tmp_path / "var" / "payments.sqlite3").exists()


def test_an_unreachable_database_is_one_line_and_exit_1() -> None:
    done = migrate({"PAYMENTS_DATABASE_URL": f"postgresql://postgres@127.0.0.1:{free_port()}/x"})
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("migrate failed: OperationalError")


@pytest.mark.parametrize("dialect", ["postgresql", "sqlite"])
def test_down_and_up_again(dialect: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    url = (
        request.getfixturevalue("pg_url")
        if dialect == "postgresql"
        else (f"sqlite:///{tmp_path / 'payments.sqlite3'}")
    )
    payments_migrate.upgrade(url)
    engine = create_engine(normalise_url(url))
    try:
        assert set(inspect(engine).get_table_names()) == TABLES
        command.downgrade(payments_migrate.alembic_config(url), "base")
        assert set(inspect(engine).get_table_names()) == {"alembic_version"}
        payments_migrate.upgrade(url)
        assert set(inspect(engine).get_table_names()) == TABLES
    finally:
        engine.dispose()
