from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.stack import Stack, running_stack


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("stack"), redis_url, products=60) as s:
        yield s


@pytest.fixture
def e2e_tmp(tmp_path: Path) -> Path:
    return tmp_path
