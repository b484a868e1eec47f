"""Health: live always answers; ready runs a query and answers 503 when the database is gone."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI

from extracted.chassis.web.db import make_engine, make_sessions
from extracted.chassis.web.errors import install_error_handlers
from extracted.chassis.web.health import health_router
from tests.extracted.asgi_client import BlockingASGIClient
from tests.support.ports import free_port


def health_client(url: str) -> BlockingASGIClient:
    engine = (
        make_engine(url, pool_pre_ping=False) if url.startswith("postgresql") else make_engine(url)
    )
    app = FastAPI()
    install_error_handlers(app)
    sessions = make_sessions(engine)
    app.include_router(health_router(lambda: sessions))
    return BlockingASGIClient(app)


@pytest.fixture
def live_db_client(pg_url: str) -> Iterator[BlockingASGIClient]:
    client = health_client(pg_url)
    yield client
    client.close()


def test_ready_when_the_database_answers(live_db_client: BlockingASGIClient) -> None:
    assert live_db_client.get("/health/live").json() == {"status": "ok"}
    ready = live_db_client.get("/health/ready")
    assert (ready.status_code, ready.json()) == (200, {"status": "ok"})


def test_ready_on_a_dead_database_is_503_and_live_stays_200() -> None:
    dead = f"postgresql://postgres@127.0.0.1:{free_port()}/nothing_listens_here"
    client = health_client(dead)
    try:
        ready = client.get("/health/ready")
        assert ready.status_code == 503
        body = ready.json()
        assert list(body) == ["status", "detail"]
        assert body["status"] == "unavailable"
        assert body["detail"].startswith("database: ")
        assert client.get("/health/live").status_code == 200
        refused = client.post("/health/ready")
        assert (refused.status_code, refused.json()) == (
            405,
            {"error": "method_not_allowed", "detail": 'Method "POST" not allowed.'},
        )
    finally:
        client.close()
