"""Which database the suite runs on, for the few tests that need PostgreSQL's row locks."""

from __future__ import annotations

import pytest
from django.db import connection


def require_postgres() -> None:
    """Fail (never skip) when the suite runs on another database: these tests prove row-lock
    behaviour that only PostgreSQL has. On SQLite, deselect them with ``-k "not on_postgres"``."""
    if connection.vendor != "postgresql":
        pytest.fail("this test needs PostgreSQL: run the suite with DATABASE_URL=postgresql://...")
