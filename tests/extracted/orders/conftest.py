"""Fixtures of the orders suite: the monolith and the inventory service running once per module,
and one orders process for the module (tests use their own customers and products)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.orders_stack import (
    OrdersProcess,
    Upstreams,
    orders_deployment,
    running_upstreams,
)


@pytest.fixture(scope="module")
def upstreams(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Upstreams]:
    with running_upstreams(tmp_path_factory.mktemp("orders-upstreams")) as running:
        yield running


@pytest.fixture(scope="module")
def orders(upstreams: Upstreams) -> Iterator[OrdersProcess]:
    with orders_deployment(upstreams) as deployment:
        yield deployment.start()
