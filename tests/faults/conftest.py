"""Fixtures of the orders suites: the monolith, the inventory service and the façade running once
per module, and an orders deployment (fresh database) per test, with the façade's routes as
they were after it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.orders_stack import (
    OrdersDeployment,
    Upstreams,
    orders_deployment,
    running_upstreams,
)


@pytest.fixture(scope="module")
def upstreams(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Upstreams]:
    with running_upstreams(tmp_path_factory.mktemp("orders-upstreams")) as running:
        yield running


@pytest.fixture
def deployment(upstreams: Upstreams) -> Iterator[OrdersDeployment]:
    routes = upstreams.routes_file.read_text(encoding="utf-8")
    with orders_deployment(upstreams) as deployed:
        yield deployed
    upstreams.restore_routes(routes)
