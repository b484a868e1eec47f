"""The `strangler` command's verbs: every one listed with its help, and a verb's module imported
only when that verb runs (so each CLI call pays for the code it runs)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from strangler.cli import Verbs
from tests.support.processes import REPO_ROOT, VENV_BIN


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args,
        env={**os.environ, "COLUMNS": "200"},
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_help_lists_every_verb_with_its_help() -> None:
    done = run(str(VENV_BIN / "strangler"), "--help")

    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    for verb, help_start in [
        ("compare", "Replay a scenario"),
        ("traffic", "Send reads, writes and checkouts"),
        ("up", "Start the monolith"),
        ("routes", "Show, explain, lint and change"),
        ("plan", "Walk the migration plan"),
        ("sync", "Backfill the services"),
    ]:
        assert any(f" {verb} " in line and help_start in line for line in lines), verb
    assert set(Verbs.lazy_commands) == {"compare", "traffic", "up", "routes", "plan", "sync"}


def test_a_mistyped_verb_fails_with_a_suggestion() -> None:
    done = run(str(VENV_BIN / "strangler"), "rotues")

    assert done.returncode == 2
    assert "No such command 'rotues'. Did you mean 'routes'?" in done.stderr


@pytest.mark.parametrize(
    ("argv", "loaded", "not_loaded"),
    [
        (
            ["routes", "list", "--help"],
            ["routes_cmd"],
            ["compare_cmd", "traffic_cmd", "up_cmd", "plan_cmd", "sync_cmd"],
        ),
        (
            ["sync", "backfill", "--help"],
            ["sync_cmd"],
            ["routes_cmd", "reconcile_cmd", "switch_cmd", "dead_letters_cmd"],
        ),
        (["sync", "switch", "--help"], ["sync_cmd", "switch_cmd"], ["reconcile_cmd"]),
    ],
)
def test_a_verb_imports_only_its_own_module(
    argv: list[str], loaded: list[str], not_loaded: list[str]
) -> None:
    # A fresh interpreter: this process has imported every verb already.
    probe = (
        "import sys\n"
        "from strangler.cli import app\n"
        "try:\n"
        f"    app({argv!r})\n"
        "except SystemExit as done:\n"
        "    assert done.code == 0, done.code\n"
        "print(sorted(m for m in sys.modules if m.startswith('strangler.')))\n"
    )
    done = run(sys.executable, "-c", probe)

    assert done.returncode == 0, done.stderr
    modules = done.stdout.strip().splitlines()[-1]
    for name in loaded:
        assert f"'strangler.{name}'" in modules
    for name in not_loaded:
        assert f"'strangler.{name}'" not in modules
