"""The security suites' rig: every owner and the proxy, started once per test process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.security.owners import UNTHROTTLED, Rig, running_owners


@pytest.fixture(scope="session")
def owners(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    with running_owners(tmp_path_factory.mktemp("owners"), env=UNTHROTTLED) as rig:
        yield rig
