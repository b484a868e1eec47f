"""The payments service's ASGI app: ``uvicorn extracted.payments.main:app``.

``create_app()`` wires the chassis (request ids, dry runs, the contract's error bodies, token
verification, health) around the payments router, the sync subscriber's internal endpoints
(``/internal/sync/stats``, ``/internal/sync/dead-letters``), reconciliation's
(``/internal/reconcile/payments/...``), reverse sync's (``/internal/sync/direction``,
``/outbox``, ``/processed``) and ``/metrics``. On start-up it runs
the Alembic migrations to head unless ``PAYMENTS_MIGRATE_ON_START=0``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from extracted.chassis.sync.dead_letter_api import dead_letter_router
from extracted.chassis.sync.direction_api import direction_router
from extracted.chassis.sync.metrics import SyncCollector, metrics_router
from extracted.chassis.sync.stats_api import event_stats_router
from extracted.chassis.web.app import service_app
from extracted.chassis.web.deps import get_sessions
from extracted.chassis.web.errors import ApiError
from extracted.chassis.web.health import health_router
from extracted.chassis.web.identity import TokenVerifier, current_caller
from extracted.payments import migrate, reconcile, sync
from extracted.payments.api import payments
from extracted.payments.config import PaymentsSettings
from extracted.payments.models import (
    BackfillCheckpoint,
    DeadLetter,
    OutboxEvent,
    ProcessedEvent,
    ReconciliationRun,
)
from extracted.payments.wiring import WRITES, sessions_for


def _authenticate_before_405(app: FastAPI) -> None:
    """DRF authenticates before it looks for the method's handler, so on a payments path an
    unauthenticated request with another method is the 401, not a 405."""
    answer_http_error = app.exception_handlers[StarletteHTTPException]

    async def handler(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 405 and request.url.path.startswith(payments.router.prefix):
            try:  # in a thread: the key may have to be fetched (JWKS)
                await run_in_threadpool(current_caller, request)
            except ApiError as refused:
                return refused.response()
        answer = answer_http_error(request, exc)
        return answer if isinstance(answer, Response) else await answer

    app.add_exception_handler(StarletteHTTPException, handler)


def create_app(
    settings: PaymentsSettings | None = None,
    *,
    sessions: sessionmaker[Session] | None = None,
    verifier: TokenVerifier | None = None,
) -> FastAPI:
    settings = settings or PaymentsSettings()
    url = settings.database_url

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if settings.migrate_on_start:
            await run_in_threadpool(migrate.upgrade, url)
        yield

    app = service_app(
        "payments",
        settings=settings,
        lifespan=lifespan,
        routers=[
            health_router(lambda: app.state.sessions),
            payments.router,
            event_stats_router(
                ProcessedEvent,
                DeadLetter,
                get_sessions,
                runs=ReconciliationRun,
                checkpoints=BackfillCheckpoint,
            ),
            dead_letter_router(sync.DEAD_LETTERS, get_sessions),
            reconcile.router,
            direction_router(
                WRITES,
                outbox_model=OutboxEvent,
                processed_model=ProcessedEvent,
                get_sessions=get_sessions,
            ),
            metrics_router(
                SyncCollector(
                    capability="payments",
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
    _authenticate_before_405(app)
    return app


app = create_app()
