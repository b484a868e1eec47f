"""The callers of the owners' internal endpoints that are not reads, without a sync token: each
CLI command that would make such a call refuses before it asks any owner anything, with one line
saying how to set the token, and exits 1. (The owners' URLs point at a closed port: a command
that called one anyway would say it is unreachable instead.)"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from contracts.sync_token import MISSING_SYNC_TOKEN, SYNC_TOKEN_ENV
from tests.support.processes import REPO_ROOT, VENV_BIN

NOWHERE = "http://127.0.0.1:9"


@pytest.mark.parametrize(
    ("argv", "prefix"),
    [
        (["sync", "reconcile"], "strangler sync reconcile"),
        (["sync", "reconcile", "--aggregate", "all", "--repair"], "strangler sync reconcile"),
        (["sync", "dead-letters", "replay", "--all"], "strangler sync"),
        (["sync", "dead-letters", "replay", "3", "--owner", "monolith"], "strangler sync"),
        (["sync", "switch", "inventory", "reverse"], "strangler sync switch"),
    ],
)
def test_a_call_without_a_token_is_one_line_saying_how_to_set_it(
    argv: list[str], prefix: str, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if k != SYNC_TOKEN_ENV}
    env["STRANGLER_VAR_DIR"] = str(tmp_path)  # no sync-token file there
    for owner in ("MONOLITH", "INVENTORY", "PAYMENTS", "ORDERS"):
        env[f"STRANGLER_{owner}_URL"] = NOWHERE
    done = subprocess.run(
        [str(VENV_BIN / "strangler"), *argv],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert done.stderr.strip() == f"{prefix}: {MISSING_SYNC_TOKEN}"
