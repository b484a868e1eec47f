"""The one rule of the owners' internal HTTP (``contracts.sync_token``), proved route by route:
every internal route of the monolith (its URLconf) and of each service (its ``app.routes``) is
found and requested over its HTTP stack (Django's test client; the service's ASGI app on a
migrated PostgreSQL database). A route whose method is not a read answers the contract's 401
without the sync token or with another one, is served with it, and is refused with 403 on an
owner that has no token; a read answers without it. An internal write added later without the
check fails here, and so would the probe if it could not see one (the last tests)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import ExitStack, asynccontextmanager
from pathlib import Path

import pytest
from django.test import Client
from fastapi import APIRouter, FastAPI
from pytest_django.fixtures import Settings
from sqlalchemy.orm import Session, sessionmaker

from contracts.sync_token import SYNC_TOKEN_ENV, needs_sync_token
from extracted.chassis.web.app import service_app
from extracted.chassis.web.db import make_engine, make_sessions
from extracted.chassis.web.responses import ContractJSONResponse
from strangler.stack import ensure_sync_token
from sync.control.internal_auth import sync_headers
from tests.extracted.asgi_client import BlockingASGIClient
from tests.extracted.conftest import build_app as inventory_app
from tests.extracted.orders.conftest import build_app as orders_app
from tests.extracted.payments.conftest import build_app as payments_app
from tests.security.internal_routes import (
    Answer,
    InternalRoute,
    Send,
    monolith_routes,
    rule_breaks,
    service_routes,
    unconfigured_breaks,
)
from tests.support.database_templates import migrated_database

#: Routes each owner must have among those found: the probe is not looking at nothing.
SERVICE_WRITES = {
    ("PUT", "/internal/sync/direction"),
    ("POST", "/internal/sync/processed"),
    ("POST", "/internal/sync/dead-letters/replay"),
    ("POST", "/internal/reconcile/{aggregate}/repair"),
    ("POST", "/internal/reconcile/{aggregate}/runs"),
    ("POST", "/internal/reconcile/{aggregate}/checksums"),
}
MONOLITH_WRITES = {
    ("PUT", "/internal/sync/direction/<str:capability>"),
    ("POST", "/internal/sync/processed"),
    ("POST", "/internal/sync/dead-letters/replay"),
    ("POST", "/internal/reconcile/<str:aggregate>/states"),
}


#: Each service's app, built on a database of that service.
SERVICES: dict[str, Callable[[str, sessionmaker[Session]], FastAPI]] = {
    "inventory": inventory_app,
    "payments": payments_app,
    "orders": orders_app,
}


@pytest.fixture(scope="module")
def services() -> Iterator[dict[str, FastAPI]]:
    """Each service's app, as its own suite builds it, on its own migrated database."""
    with ExitStack() as stack:
        apps: dict[str, FastAPI] = {}
        for name, build in SERVICES.items():
            url = stack.enter_context(migrated_database(name, f"sec_{name[:3]}"))
            engine = make_engine(url)
            stack.callback(engine.dispose)
            apps[name] = build(url, make_sessions(engine))
        yield apps


def _asgi_send(client: BlockingASGIClient) -> Send:
    def send(method: str, url: str, headers: dict[str, str]) -> Answer:
        body: dict[str, object] | None = {} if needs_sync_token(method) else None
        response = client.request(method, url, json=body, headers=headers)
        try:
            parsed = response.json() if response.content else None
        except ValueError:
            parsed = response.text
        return Answer(
            response.status_code, parsed, {k.lower(): v for k, v in response.headers.items()}
        )

    return send


def _django_send(client: Client) -> Send:
    def send(method: str, url: str, headers: dict[str, str]) -> Answer:
        data = b"{}" if needs_sync_token(method) else b""
        response = client.generic(
            method, url, data=data, content_type="application/json", headers=headers
        )
        raw = response.content
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw.decode(errors="replace")
        return Answer(
            response.status_code, parsed, {k.lower(): v for k, v in response.headers.items()}
        )

    return send


def _pairs(routes: list[InternalRoute]) -> set[tuple[str, str]]:
    return {(route.method, route.path) for route in routes}


def _no_token_anywhere(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(SYNC_TOKEN_ENV, raising=False)
    monkeypatch.setenv("STRANGLER_VAR_DIR", str(tmp_path / "empty-var"))


def test_every_internal_route_of_every_service_follows_the_rule(
    services: dict[str, FastAPI], sync_token: str
) -> None:
    breaks: dict[str, list[str]] = {}
    for name, app in services.items():
        routes = service_routes(app)
        writes = {(r.method, r.path) for r in routes if needs_sync_token(r.method)}
        assert writes >= SERVICE_WRITES, (name, sorted(writes))
        assert ("GET", "/internal/sync/stats") in _pairs(routes), name
        client = BlockingASGIClient(app)
        try:
            breaks[name] = rule_breaks(_asgi_send(client), routes, sync_token)
        finally:
            client.close()
    assert breaks == {name: [] for name in services}


@pytest.mark.django_db
def test_every_internal_route_of_the_monolith_follows_the_rule(sync_token: str) -> None:
    routes = monolith_routes()
    writes = {(r.method, r.path) for r in routes if needs_sync_token(r.method)}
    assert writes >= MONOLITH_WRITES, sorted(writes)
    assert ("GET", "/internal/outbox/stats") in _pairs(routes)
    assert rule_breaks(_django_send(Client()), routes, sync_token) == []


@pytest.mark.django_db
def test_an_owner_with_no_token_configured_refuses_every_internal_write(
    services: dict[str, FastAPI], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _no_token_anywhere(monkeypatch, tmp_path)
    breaks = {"monolith": unconfigured_breaks(_django_send(Client()), monolith_routes(), "any")}
    for name, app in services.items():
        client = BlockingASGIClient(app)
        try:
            breaks[name] = unconfigured_breaks(_asgi_send(client), service_routes(app), "any")
        finally:
            client.close()
    assert breaks == {name: [] for name in ("monolith", *services)}


def test_the_token_strangler_up_writes_is_the_one_owners_check_and_callers_send(
    services: dict[str, FastAPI], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """No ``STRANGLER_SYNC_TOKEN``: the owner and the caller both read ``$VAR/sync-token``."""
    monkeypatch.delenv(SYNC_TOKEN_ENV, raising=False)
    var = tmp_path / "var"
    monkeypatch.setenv("STRANGLER_VAR_DIR", str(var))
    written = ensure_sync_token(var)
    assert written.stat().st_mode & 0o077 == 0  # owner-only
    client = BlockingASGIClient(services["inventory"])
    try:
        replay = "/internal/sync/dead-letters/replay"
        sent = client.post(replay, json={"ids": [0]}, headers=sync_headers())
        assert (sent.status_code, sent.json()["error"]) == (404, "not_found")
        assert client.post(replay, json={"ids": [0]}).status_code == 401
    finally:
        client.close()


def _unguarded_app() -> FastAPI:
    """A service whose new internal write forgot the check (a plain router)."""
    router = APIRouter()

    @router.post("/internal/sync/forgotten")
    def forgotten() -> ContractJSONResponse:
        return ContractJSONResponse({"done": True})

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield

    return service_app("unguarded", lifespan=lifespan, routers=[router])


@pytest.mark.django_db
def test_the_probe_fails_an_internal_write_added_without_the_check(
    sync_token: str, settings: Settings
) -> None:
    app = _unguarded_app()
    client = BlockingASGIClient(app)
    try:
        service = rule_breaks(_asgi_send(client), service_routes(app), sync_token)
    finally:
        client.close()
    assert service and all("/internal/sync/forgotten with " in line for line in service)
    settings.ROOT_URLCONF = "tests.security.unguarded_urls"
    monolith = rule_breaks(_django_send(Client()), monolith_routes(), sync_token)
    assert monolith and all("/internal/sync/forgotten with " in line for line in monolith)
