"""Fixtures every suite may use: real PostgreSQL databases (pytest-django's among them, copied from
the run's migrated templates), real Redis, a scratch var/ folder, the sync token of the owners'
internal endpoints."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from hypothesis import settings
from pytest_django import DjangoDbBlocker

from contracts.sync_token import SYNC_TOKEN_ENV, bearer
from tests.support.database_templates import drop_run_templates, migrated_database, start_run
from tests.support.postgres import finish_drops, fresh_database
from tests.support.random_refs import random_suffix

REDIS_URL = os.environ.get("STRANGLER_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

# Property tests: random examples on every local run (they keep finding new cases); CI runs the
# same examples every time (`ci`), so a red build means a change broke something; `thorough`
# digs deeper before a change to compare rules or stock invariants. HYPOTHESIS_PROFILE picks one.
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("thorough", max_examples=2000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


_STARTED_RUN = pytest.StashKey[bool]()


#: The Host names the suite's owners answer to: the defaults, ``testserver`` (the in-process
#: clients' name, which pytest-django allows the monolith the same way) and the fixed example
#: names of the link and parity tests. tests/security/test_host_and_exposure.py runs the shipped
#: default instead.
TEST_ALLOWED_HOSTS = "localhost,127.0.0.1,[::1],testserver,shop.example,parity.test"


#: How often the proxies tests start look at their route file (the default is 0.5 s): a test
#: that changes a flag waits until the proxy serves it, and the suite changes flags hundreds of
#: times. Looking costs one stat() per poll.
TEST_RELOAD_INTERVAL_S = "0.1"


#: Where a command under test finds the proxy's admin API when its test names none: a closed
#: port, not the default 8081, where a developer's own `strangler up` may be serving. (The
#: owners' URLs stay unset: a command without them takes them from the route file.)
NO_PROXY_ADMIN_URL = "http://127.0.0.1:9"


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("STRANGLER_ALLOWED_HOSTS", TEST_ALLOWED_HOSTS)
    os.environ.setdefault("PROXY_RELOAD_INTERVAL_S", TEST_RELOAD_INTERVAL_S)
    os.environ.setdefault("STRANGLER_PROXY_ADMIN_URL", NO_PROXY_ADMIN_URL)
    # The controller (or the only process) names the run; xdist workers inherit the name.
    config.stash[_STARTED_RUN] = start_run()


def pytest_sessionstart(session: pytest.Session) -> None:
    # Each pytest-xdist worker finds COLUMNS=80 and LINES=24 in its environment (set as its
    # terminal is set up), and every command a test runs would inherit them: the CLI lays out
    # its tables at COLUMNS when it is set. A command run by a test gets a shell's pipe: none.
    for name in ("COLUMNS", "LINES"):
        os.environ.pop(name, None)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Files with slow (end-to-end) tests first: xdist hands out whole files in collection order,
    # so a long file handed out last keeps one process busy after the other has run out of work.
    # A stable sort by file: each file's own order stays, and every process gets the same order
    # (xdist requires it).
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow_files)


def pytest_sessionfinish(session: pytest.Session) -> None:
    # Each test process: the databases its tests left to drop in the background.
    finish_drops()


def pytest_unconfigure(config: pytest.Config) -> None:
    # After every worker has finished: the run's migrated templates go.
    if config.stash.get(_STARTED_RUN, False):
        drop_run_templates()


@pytest.fixture(scope="session")
def django_db_setup(django_db_blocker: DjangoDbBlocker) -> Iterator[None]:
    """pytest-django's test database: on PostgreSQL a copy of the run's migrated monolith template
    (pytest-django's recipe for a template database) instead of a migration per worker."""
    from django.conf import settings as django_settings
    from django.db import connections
    from django.test.utils import setup_databases, teardown_databases

    database = django_settings.DATABASES["default"]
    with django_db_blocker.unblock():
        if database["ENGINE"] != "django.db.backends.postgresql":
            created = setup_databases(verbosity=0, interactive=False)
            yield
            teardown_databases(created, verbosity=0)
            return
        connections["default"].close()
        with migrated_database("monolith", "dj") as url:
            database["NAME"] = connections["default"].settings_dict["NAME"] = url.rsplit("/", 1)[1]
            yield
            connections.close_all()


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
