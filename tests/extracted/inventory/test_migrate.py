"""``python -m extracted.inventory.migrate``: upgrade head, or one line and a non-zero exit."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.ports import free_port
from tests.support.processes import REPO_ROOT


def migrate(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "extracted.inventory.migrate"],
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
    assert (tmp_path / "var" / "inventory.sqlite3").exists()


def test_an_unreachable_database_is_one_line_and_exit_1(tmp_path: Path) -> None:
    done = migrate({"INVENTORY_DATABASE_URL": f"postgresql://postgres@127.0.0.1:{free_port()}/x"})
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("migrate failed: OperationalError")


def test_arguments_are_refused(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "extracted.inventory.migrate", "down"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2 and "usage:" in done.stderr
