"""Fixtures of the `strangler` CLI's tests: the rigs of the suites whose components each command
drives (the proxy's echo upstreams for `strangler routes`, the sync rig for `strangler sync`),
imported from those suites so each rig is defined once; and a name prefix of each test's own for
`strangler up --real`'s databases and roles."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.proxy.conftest import inventory, monolith, upstream_logs
from tests.support.postgres import drop_owner_databases
from tests.support.random_refs import random_suffix
from tests.sync.conftest import redis_env, rig

__all__ = ["inventory", "monolith", "real_mode_prefix", "redis_env", "rig", "upstream_logs"]


@pytest.fixture
def real_mode_prefix() -> Iterator[str]:
    """A database and role name prefix of this test's own for `strangler up --real`'s
    provisioning; whatever it created under it is dropped afterwards."""
    prefix = f"sf_real_{random_suffix()}_"
    yield prefix
    drop_owner_databases(prefix)
