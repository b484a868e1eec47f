"""Fixtures of the orders suite: the monolith and the inventory service running once per module,
and one orders process for the module (tests use their own customers and products); and, for
the in-process tests, a migrated orders database (PostgreSQL), its sessions and the app."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker

from extracted.chassis.web.db import make_engine, make_sessions
from extracted.orders.config import OrdersSettings
from extracted.orders.main import create_app
from tests.extracted.asgi_client import BlockingASGIClient
from tests.support.database_templates import migrated_database
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


@pytest.fixture
def orders_url() -> Iterator[str]:
    """A fresh PostgreSQL database at the migrations' head (a copy of the run's template)."""
    with migrated_database("orders", "t") as url:
        yield url


@pytest.fixture
def sessions(orders_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(orders_url)
    yield make_sessions(engine)
    engine.dispose()


def build_app(url: str, sessions: sessionmaker[Session]) -> FastAPI:
    settings = OrdersSettings(orders_database_url=url, migrate_on_start=False)
    return create_app(settings, sessions=sessions, recovery=False)


@pytest.fixture
def app(orders_url: str, sessions: sessionmaker[Session]) -> FastAPI:
    return build_app(orders_url, sessions)


@pytest.fixture
def client(app: FastAPI) -> Iterator[BlockingASGIClient]:
    c = BlockingASGIClient(app)
    yield c
    c.close()
