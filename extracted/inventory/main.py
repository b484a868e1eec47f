"""The inventory service's ASGI app: ``uvicorn extracted.inventory.main:app``.

``create_app()`` wires the chassis (request ids, dry runs, the contract's error bodies, token
verification, health) around the service's routers; writes need a staff caller
(``api/access.py``). On start-up it runs the Alembic migrations to head unless
``INVENTORY_MIGRATE_ON_START=0``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from extracted.chassis.sync.dead_letter_api import dead_letter_router
from extracted.chassis.sync.direction_api import direction_router
from extracted.chassis.sync.metrics import SyncCollector, metrics_router
from extracted.chassis.web.app import service_app
from extracted.chassis.web.deps import get_sessions
from extracted.chassis.web.health import health_router
from extracted.chassis.web.identity import TokenVerifier
from extracted.inventory import migrate, reconcile, sync
from extracted.inventory.api import internal, products, reservations
from extracted.inventory.config import InventorySettings
from extracted.inventory.models import DeadLetter, OutboxEvent, ProcessedEvent
from extracted.inventory.wiring import WRITES, sessions_for


def create_app(
    settings: InventorySettings | None = None,
    *,
    sessions: sessionmaker[Session] | None = None,
    verifier: TokenVerifier | None = None,
) -> FastAPI:
    settings = settings or InventorySettings()
    url = settings.database_url

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if settings.migrate_on_start:
            await run_in_threadpool(migrate.upgrade, url)
        yield

    app = service_app(
        "inventory",
        settings=settings,
        lifespan=lifespan,
        routers=[
            health_router(lambda: app.state.sessions),
            products.router,
            reservations.router,
            internal.router,
            reconcile.router,
            dead_letter_router(sync.DEAD_LETTERS, get_sessions),
            direction_router(
                WRITES,
                outbox_model=OutboxEvent,
                processed_model=ProcessedEvent,
                get_sessions=get_sessions,
            ),
            metrics_router(
                SyncCollector(
                    capability="inventory",
                    sessions=lambda: app.state.sessions,
                    lag_column=ProcessedEvent.lag_s,
                    dead_letter_model=DeadLetter,
                )
            ),
        ],
    )
    app.state.settings = settings
    app.state.sessions = sessions if sessions is not None else sessions_for(url)
    app.state.token_verifier = verifier if verifier is not None else settings.verifier()
    return app


app = create_app()
