"""Echo upstreams shared by a test module (stateless enough: tests use unique paths)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.proxy.harness import Echo, echo_upstream


@pytest.fixture(scope="module")
def upstream_logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("upstream-logs")


@pytest.fixture(scope="module")
def monolith(upstream_logs: Path) -> Iterator[Echo]:
    with echo_upstream("monolith", upstream_logs) as echo:
        yield echo


@pytest.fixture(scope="module")
def inventory(upstream_logs: Path) -> Iterator[Echo]:
    with echo_upstream("inventory", upstream_logs) as echo:
        yield echo
