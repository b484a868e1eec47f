"""The parity suite's two sides, started once for the package (see tests/parity/sides.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.parity.sides import Sides, running_sides


@pytest.fixture(scope="package")
def sides(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sides]:
    with running_sides(tmp_path_factory.mktemp("parity")) as started:
        yield started
