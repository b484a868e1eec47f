"""Settings come from the environment only; each case runs in a fresh interpreter, since
Django reads them once at import."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.support.processes import REPO_ROOT

_PRINT = """
import json
from django.conf import settings
db = settings.DATABASES["default"]
print(json.dumps({
    "engine": db["ENGINE"], "name": str(db["NAME"]), "options": db.get("OPTIONS", {}),
    "conn_max_age": db.get("CONN_MAX_AGE"), "health": db.get("CONN_HEALTH_CHECKS"),
    "debug": settings.DEBUG, "hosts": settings.ALLOWED_HOSTS, "secret": settings.SECRET_KEY,
    "append_slash": settings.APPEND_SLASH, "tz": settings.TIME_ZONE, "use_tz": settings.USE_TZ,
}))
"""


def _settings(env: dict[str, str]) -> dict[str, object]:
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("DJANGO_")
        and k not in {"DATABASE_URL", "STRANGLER_VAR_DIR", "STRANGLER_ALLOWED_HOSTS"}
    }
    done = subprocess.run(
        [sys.executable, "-c", _PRINT],
        cwd=REPO_ROOT,
        env={**base, "DJANGO_SETTINGS_MODULE": "monolith.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def test_default_is_a_sqlite_file_in_the_var_dir_with_wal_and_a_busy_timeout(
    tmp_path: Path,
) -> None:
    var = tmp_path / "nested" / "var"

    s = _settings({"STRANGLER_VAR_DIR": str(var)})

    assert s["engine"] == "django.db.backends.sqlite3"
    assert s["name"] == str(var / "monolith.sqlite3")
    assert var.is_dir(), "the var dir is created"
    options = s["options"]
    assert isinstance(options, dict)
    assert "journal_mode=WAL" in options["init_command"]
    assert options["timeout"] >= 5
    assert options["transaction_mode"] == "IMMEDIATE"
    assert (s["debug"], s["hosts"], s["append_slash"]) == (
        False,
        ["localhost", "127.0.0.1", "[::1]"],
        False,
    )
    assert (s["tz"], s["use_tz"]) == ("UTC", True)


def test_postgres_keeps_persistent_health_checked_connections(tmp_path: Path) -> None:
    s = _settings(
        {
            "DATABASE_URL": "postgresql://app@db.internal:5433/monolith",
            "STRANGLER_VAR_DIR": str(tmp_path),
            "DJANGO_SECRET_KEY": "s3cret",
            "STRANGLER_ALLOWED_HOSTS": "shop.example, monolith",
            "DJANGO_DEBUG": "true",
        }
    )

    assert s["engine"] == "django.db.backends.postgresql"
    assert s["name"] == "monolith"
    assert s["conn_max_age"] == 600 and s["health"] is True
    assert (s["secret"], s["hosts"], s["debug"]) == ("s3cret", ["shop.example", "monolith"], True)
