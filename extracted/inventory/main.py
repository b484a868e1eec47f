"""The inventory service's ASGI app: ``uvicorn extracted.inventory.main:app``.

``create_app()`` wires the chassis (request ids, dry runs, the contract's error bodies, health)
around the service's routers. On start-up it runs the Alembic migrations to head unless
``INVENTORY_MIGRATE_ON_START=0``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from extracted.chassis.allow_header import AllowHeaderMiddleware
from extracted.chassis.dry_run import DryRunMiddleware
from extracted.chassis.errors import install_error_handlers
from extracted.chassis.health import health_router
from extracted.chassis.host_check import HostCheckMiddleware
from extracted.chassis.path_decoding import DjangoPathMiddleware
from extracted.chassis.request_id import RequestIdMiddleware
from extracted.chassis.server_error import ServerErrorMiddleware
from extracted.chassis.sync_metrics import SyncCollector, metrics_router
from extracted.inventory import dead_letters, migrate
from extracted.inventory.api import internal, products, reconcile, reservations
from extracted.inventory.config import InventorySettings
from extracted.inventory.database import sessions_for
from extracted.inventory.models import DeadLetter, ProcessedEvent


def create_app(
    settings: InventorySettings | None = None, *, sessions: sessionmaker[Session] | None = None
) -> FastAPI:
    settings = settings or InventorySettings()
    url = settings.database_url

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if settings.migrate_on_start:
            await run_in_threadpool(migrate.upgrade, url)
        yield

    app = FastAPI(
        title="inventory",
        lifespan=lifespan,
        redirect_slashes=False,  # the contract: a path without its "/" is an unknown URL
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.settings = settings
    app.state.sessions = sessions if sessions is not None else sessions_for(url)
    install_error_handlers(app)
    routers = [
        health_router(lambda: app.state.sessions),
        products.router,
        reservations.router,
        internal.router,
        reconcile.router,
        dead_letters.router,
        metrics_router(
            SyncCollector(
                capability="inventory",
                sessions=lambda: app.state.sessions,
                lag_column=ProcessedEvent.lag_s,
                dead_letter_model=DeadLetter,
            )
        ),
    ]
    app.add_middleware(AllowHeaderMiddleware, routes=[r for rt in routers for r in rt.routes])
    app.add_middleware(ServerErrorMiddleware)
    app.add_middleware(DryRunMiddleware)
    app.add_middleware(HostCheckMiddleware)
    app.add_middleware(DjangoPathMiddleware)
    app.add_middleware(RequestIdMiddleware)
    for router in routers:
        app.include_router(router)
    return app


app = create_app()
