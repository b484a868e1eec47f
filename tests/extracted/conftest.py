"""Fixtures of the extracted services' suites: a migrated inventory database (PostgreSQL by
default, SQLite where a test asks for it), its session factory, and in-process HTTP clients: one
as any client, one as the sync tooling (the sync token on every request) for the internal
endpoints that are not reads. ``internal`` serves whichever service's ``app`` the directory's
conftest builds."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker

from extracted.chassis.web.db import make_engine, make_sessions
from extracted.inventory import migrate
from extracted.inventory.config import InventorySettings
from extracted.inventory.main import create_app
from tests.extracted.asgi_client import BlockingASGIClient
from tests.support.database_templates import migrated_database


@pytest.fixture
def inventory_url() -> Iterator[str]:
    """A fresh PostgreSQL database at the migrations' head (a copy of the run's template)."""
    with migrated_database("inventory", "t") as url:
        yield url


@pytest.fixture
def sqlite_inventory_url(tmp_path: Path) -> str:
    """A fresh SQLite file (the embedded mode) migrated to head."""
    url = f"sqlite:///{tmp_path / 'inventory.sqlite3'}"
    migrate.upgrade(url)
    return url


@pytest.fixture
def sessions(inventory_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(inventory_url)
    yield make_sessions(engine)
    engine.dispose()


def build_app(url: str, sessions: sessionmaker[Session]) -> FastAPI:
    settings = InventorySettings(inventory_database_url=url, migrate_on_start=False)
    return create_app(settings, sessions=sessions)


@pytest.fixture
def app(inventory_url: str, sessions: sessionmaker[Session]) -> FastAPI:
    return build_app(inventory_url, sessions)


@pytest.fixture
def client(app: FastAPI) -> Iterator[BlockingASGIClient]:
    c = BlockingASGIClient(app)
    yield c
    c.close()


@pytest.fixture
def internal(app: FastAPI, sync_auth: dict[str, str]) -> Iterator[BlockingASGIClient]:
    """A client of ``app`` that sends the sync token, as `strangler sync ...` does."""
    c = BlockingASGIClient(app, headers=sync_auth)
    yield c
    c.close()
