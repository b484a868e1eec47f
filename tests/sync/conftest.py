"""Fixtures of the sync tests: the broker environment every sync process of a test shares."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from celery import Celery

from tests.support.processes import REPO_ROOT
from tests.support.random_refs import random_suffix
from tests.sync.rig import SyncRig, running_rig


@pytest.fixture
def redis_env(redis_url: str, queue_prefix: str, var_dir: Path) -> dict[str, str]:
    """Real Redis as the broker, with queues no other test shares."""
    return {
        "CELERY_BROKER_URL": redis_url,
        "STRANGLER_QUEUE_PREFIX": queue_prefix,
        "STRANGLER_VAR_DIR": str(var_dir),
        "PYTHONPATH": str(REPO_ROOT),
    }


@pytest.fixture(scope="module")
def module_redis_env(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> dict[str, str]:
    """``redis_env`` for a module whose tests share one rig (its own queues and var folder)."""
    var = tmp_path_factory.mktemp("var")
    return {
        "CELERY_BROKER_URL": redis_url,
        "STRANGLER_QUEUE_PREFIX": f"t{random_suffix()}",
        "STRANGLER_VAR_DIR": str(var),
        "PYTHONPATH": str(REPO_ROOT),
    }


@pytest.fixture
def filesystem_env(queue_prefix: str, var_dir: Path) -> dict[str, str]:
    """The embedded kombu filesystem transport under this test's var folder."""
    return {
        "CELERY_BROKER_URL": "",
        "STRANGLER_QUEUE_PREFIX": queue_prefix,
        "STRANGLER_VAR_DIR": str(var_dir),
        "PYTHONPATH": str(REPO_ROOT),
    }


@pytest.fixture(scope="module")
def module_filesystem_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """``filesystem_env`` for a module whose tests share one rig."""
    var = tmp_path_factory.mktemp("var")
    return {
        "CELERY_BROKER_URL": "",
        "STRANGLER_QUEUE_PREFIX": f"t{random_suffix()}",
        "STRANGLER_VAR_DIR": str(var),
        "PYTHONPATH": str(REPO_ROOT),
    }


@pytest.fixture
def rig(tmp_path: Path, redis_env: dict[str, str]) -> Iterator[SyncRig]:
    """Monolith and inventory service on fresh PostgreSQL databases; Redis as the broker."""
    with running_rig(tmp_path, redis_env) as rig:
        yield rig


@pytest.fixture(scope="module")
def module_rig(
    tmp_path_factory: pytest.TempPathFactory, module_redis_env: dict[str, str]
) -> Iterator[SyncRig]:
    """``rig`` for the tests of a module to share: a module whose tests each start it fresh
    overrides ``rig`` with ``module_rig.fresh("inventory")``."""
    with running_rig(tmp_path_factory.mktemp("rig"), module_redis_env) as rig:
        yield rig


@pytest.fixture
def sender(rig: SyncRig, monkeypatch: pytest.MonkeyPatch) -> Celery:
    """A Celery app in the test process that sends to the rig's broker and queues."""
    return rig.sender(monkeypatch)
