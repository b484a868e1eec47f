"""The inventory suites' client: every inventory write needs a staff caller, so here ``api`` is
one (``stock_api``); who may write, and the refusals of everyone else, are
tests/security/test_stock_writers.py's."""

from __future__ import annotations

import pytest

from tests.monolith.api_client import JsonClient


@pytest.fixture
def api(stock_api: JsonClient) -> JsonClient:
    return stock_api
