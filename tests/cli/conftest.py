"""Fixtures of the `strangler` CLI's tests: the rigs of the suites whose components each command
drives (the proxy's echo upstreams for `strangler routes`, the sync rig for `strangler sync`),
imported from those suites so each rig is defined once."""

from __future__ import annotations

from tests.proxy.conftest import inventory, monolith, upstream_logs
from tests.sync.conftest import redis_env, rig

__all__ = ["inventory", "monolith", "redis_env", "rig", "upstream_logs"]
