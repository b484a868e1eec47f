"""The orders service's ASGI app: ``uvicorn extracted.orders.main:app``.

``create_app()`` wires the chassis (request ids, dry runs, identity, the contract's error bodies,
health) around the orders routers and reverse sync's internal endpoints
(``/internal/sync/direction``, ``/outbox`` with the sagas in flight, ``/processed``), builds one
client per upstream (each with its breaker) and the saga runner, and on start-up runs the
Alembic migrations (unless ``ORDERS_MIGRATE_ON_START=0``) and starts the saga recovery loop
(recovery.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from contracts.sync_token import sync_token
from extracted.chassis.sync.dead_letter_api import dead_letter_router
from extracted.chassis.sync.direction_api import direction_router
from extracted.chassis.sync.metrics import SyncCollector
from extracted.chassis.sync.stats_api import event_stats_router
from extracted.chassis.web.app import service_app
from extracted.chassis.web.deps import get_sessions
from extracted.chassis.web.health import health_router
from extracted.chassis.web.identity_settings import IdentitySettings
from extracted.orders import migrate, reconcile, selectors, sync
from extracted.orders.api import answers, internal, orders
from extracted.orders.clients.breaker import CircuitBreaker
from extracted.orders.clients.inventory import InventoryClient
from extracted.orders.clients.payments import PaymentsClient
from extracted.orders.clients.service_token import ServiceToken
from extracted.orders.clients.upstream import Upstream
from extracted.orders.config import OrdersSettings
from extracted.orders.crash import CrashPoints
from extracted.orders.metrics import OrdersMetrics
from extracted.orders.models import (
    BackfillCheckpoint,
    DeadLetter,
    OutboxEvent,
    ProcessedEvent,
    ReconciliationRun,
)
from extracted.orders.recovery import RecoveryLoop
from extracted.orders.saga import SagaRunner
from extracted.orders.wiring import WRITES, sessions_for


def _upstream(name: str, url: str, settings: OrdersSettings) -> Upstream:
    return Upstream(
        name,
        url,
        breaker=CircuitBreaker(
            failures=settings.breaker_failures, reset_s=settings.breaker_reset_s
        ),
        connect_timeout_s=settings.connect_timeout_s,
        read_timeout_s=settings.read_timeout_s,
        retry_attempts=settings.retry_attempts,
        caller_token=sync_token(),
    )


def create_app(
    settings: OrdersSettings | None = None,
    *,
    sessions: sessionmaker[Session] | None = None,
    recovery: bool = True,
) -> FastAPI:
    settings = settings or OrdersSettings()
    url = settings.database_url
    sessions = sessions if sessions is not None else sessions_for(url)
    inventory = _upstream("inventory", settings.upstream_url("inventory"), settings)
    payments = _upstream("payments", settings.upstream_url("payments"), settings)
    token = ServiceToken(
        fixed=settings.service_token,
        username=settings.service_username,
        password=settings.service_password,
        token_url=settings.token_url,
    )
    metrics = OrdersMetrics()
    # The sync subscriber's lag and dead letters, on the same /metrics.
    metrics.registry.register(
        SyncCollector(
            capability="orders",
            sessions=lambda: app.state.sessions,
            lag_column=ProcessedEvent.lag_s,
            dead_letter_model=DeadLetter,
        )
    )
    runner = SagaRunner(
        sessions=sessions,
        inventory=InventoryClient(inventory, token),
        payments=PaymentsClient(payments, token),
        settings=settings,
        metrics=metrics,
        crash=CrashPoints(settings.crash_at),
        checkout_answer=answers.checkout_answer,
    )
    loop = RecoveryLoop(runner, sessions, interval_s=settings.recovery_interval_s)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if settings.migrate_on_start:
            await run_in_threadpool(migrate.upgrade, url)
        if recovery:
            loop.start()
        try:
            yield
        finally:
            if recovery:
                await run_in_threadpool(loop.stop)
            inventory.close()
            payments.close()

    app = service_app(
        "orders",
        settings=settings,
        lifespan=lifespan,
        routers=[
            health_router(lambda: app.state.sessions),
            orders.router,
            internal.router,
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
                in_flight=selectors.sagas_in_flight,
            ),
        ],
    )
    app.state.settings = settings
    app.state.sessions = sessions
    app.state.runner = runner
    app.state.recovery = loop
    app.state.metrics = metrics
    app.state.breakers = {"inventory": inventory.breaker, "payments": payments.breaker}
    app.state.token_verifier = IdentitySettings().verifier()
    return app


app = create_app()
