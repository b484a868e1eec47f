"""Fixtures every suite may use: real PostgreSQL databases, real Redis, a scratch var/ folder,
the sync token of the owners' internal endpoints."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from hypothesis import settings

from contracts.sync_token import SYNC_TOKEN_ENV, bearer
from tests.support.postgres import fresh_database
from tests.support.random_refs import random_suffix

REDIS_URL = os.environ.get("STRANGLER_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

# Property tests: random examples on every local run (they keep finding new cases); CI runs the
# same examples every time (`ci`), so a red build means a change broke something; `thorough`
# digs deeper before a change to compare rules or stock invariants. HYPOTHESIS_PROFILE picks one.
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("thorough", max_examples=2000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for this test (dropped afterwards)."""
    with fresh_database("t") as url:
        yield url


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The real Redis server; fails loudly when it is not there."""
    client = redis.Redis.from_url(REDIS_URL)
    client.ping()
    client.close()
    return REDIS_URL


@pytest.fixture
def queue_prefix() -> str:
    """A unique prefix for broker queue names, so concurrent runs never share a queue."""
    return f"t{random_suffix()}"


@pytest.fixture
def var_dir(tmp_path: Path) -> Path:
    """A scratch STRANGLER_VAR_DIR for processes started by the test."""
    path = tmp_path / "var"
    path.mkdir()
    return path


@pytest.fixture
def sync_token(monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh sync token in this test's environment (``STRANGLER_SYNC_TOKEN``): the owners
    running in this process check it, the callers in this process
    (``sync.control.internal_auth``) send it (contracts.sync_token)."""
    token = f"sync-{random_suffix()}"
    monkeypatch.setenv(SYNC_TOKEN_ENV, token)
    return token


@pytest.fixture
def sync_auth(sync_token: str) -> dict[str, str]:
    """The ``Authorization`` header of ``sync_token``, as the callers send it."""
    return bearer(sync_token)
