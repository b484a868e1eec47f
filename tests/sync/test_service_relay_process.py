"""The reverse relay process (``python -m sync.service_relay``) relaying several services, a thread
each: one whose relay fails ends the process, so its supervisor restarts it rather than leave a
service unrelayed; a capability named twice is refused before anything starts. The relaying
itself is held to its contract in tests/sync/control/test_reverse_sync*.py."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from strangler.stack import service_relay_argv
from tests.support.processes import REPO_ROOT


def _embedded_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The embedded default (SQLite files, filesystem broker) in ``tmp_path``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.endswith("DATABASE_URL") and k != "CELERY_BROKER_URL"
    }
    return {**env, "STRANGLER_VAR_DIR": str(tmp_path / "var"), **extra}


def test_a_failing_relay_thread_ends_the_process(tmp_path: Path) -> None:
    done = subprocess.run(
        service_relay_argv("inventory", "payments"),
        env=_embedded_env(tmp_path, PAYMENTS_DATABASE_URL="not a database url"),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    # The inventory thread relays until it is stopped: the process ends anyway, at once.
    assert done.returncode == 1, done.stderr[-2000:]
    assert "service relay: the payments relay failed" in done.stderr


def test_a_capability_named_twice_is_refused(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "sync.service_relay", "inventory", "orders", "inventory"],
        env=_embedded_env(tmp_path),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == (
        "python -m sync.service_relay: error: name each capability once"
    )
