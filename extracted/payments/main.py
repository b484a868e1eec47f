"""The payments service's ASGI app: ``uvicorn extracted.payments.main:app``.

``create_app()`` wires the chassis (request ids, dry runs, the contract's error bodies, token
verification, health) around the payments router. On start-up it runs the Alembic migrations to
head unless ``PAYMENTS_MIGRATE_ON_START=0``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from extracted.chassis.allow_header import AllowHeaderMiddleware
from extracted.chassis.dry_run import DryRunMiddleware
from extracted.chassis.errors import ApiError, install_error_handlers
from extracted.chassis.health import health_router
from extracted.chassis.host_check import HostCheckMiddleware
from extracted.chassis.identity import TokenVerifier, current_caller
from extracted.chassis.path_decoding import DjangoPathMiddleware
from extracted.chassis.request_id import RequestIdMiddleware
from extracted.chassis.server_error import ServerErrorMiddleware
from extracted.payments import migrate
from extracted.payments.api import payments
from extracted.payments.config import PaymentsSettings
from extracted.payments.database import sessions_for


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

    app = FastAPI(
        title="payments",
        lifespan=lifespan,
        redirect_slashes=False,  # the contract: a path without its "/" is an unknown URL
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.settings = settings
    app.state.sessions = sessions if sessions is not None else sessions_for(url)
    app.state.token_verifier = verifier if verifier is not None else settings.verifier()
    install_error_handlers(app)
    _authenticate_before_405(app)
    routers = [health_router(lambda: app.state.sessions), payments.router]
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
