"""The FastAPI app every service is: the contract's routing rules, error bodies and middleware.

One place for what makes a service answer like the monolith at the HTTP edge, in one order
(outermost first): request ids, Django's path decoding, the host check, dry runs, the 500 body,
the ``Allow`` header of a 405. A service brings its title, lifespan and routers; every service
also answers ``/docs`` (Swagger UI, offline) over its ``/openapi.json`` (``docs_page``).

Around the service's lifespan it runs the refresher of the revocation list of the app's token
verifier (``app.state.token_verifier``, set by the service once the app is built), when it has
one (``extracted.chassis.web.revocations``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import APIRouter, FastAPI

from extracted.chassis.web.allow_header import AllowHeaderMiddleware
from extracted.chassis.web.docs_page import OPENAPI_PATH, add_docs_page
from extracted.chassis.web.dry_run import DryRunMiddleware
from extracted.chassis.web.errors import install_error_handlers
from extracted.chassis.web.host_check import HostCheckMiddleware
from extracted.chassis.web.path_decoding import DjangoPathMiddleware
from extracted.chassis.web.request_id import RequestIdMiddleware
from extracted.chassis.web.revocations import app_revocations
from extracted.chassis.web.server_error import ServerErrorMiddleware
from extracted.chassis.web.settings import ServiceSettings


def _refreshing_revocations(
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]],
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def wrapped(app: FastAPI) -> AsyncIterator[None]:
        revocations = app_revocations(app)
        if revocations is not None:
            revocations.start()
        try:
            async with lifespan(app):
                yield
        finally:
            if revocations is not None:
                revocations.stop()

    return wrapped


def service_app(
    title: str,
    *,
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]],
    routers: Sequence[APIRouter],
    settings: ServiceSettings | None = None,
) -> FastAPI:
    """``settings``: the edge's (allowed hosts, public origin); read from the environment when
    not given."""
    edge = settings or ServiceSettings()
    app = FastAPI(
        title=title,
        lifespan=_refreshing_revocations(lifespan),
        redirect_slashes=False,  # the contract: a path without its "/" is an unknown URL
        docs_url=None,  # docs_page: the same page, without the CDN
        redoc_url=None,
        openapi_url=OPENAPI_PATH,
    )
    install_error_handlers(app)
    app.add_middleware(AllowHeaderMiddleware, routes=[r for rt in routers for r in rt.routes])
    app.add_middleware(ServerErrorMiddleware)
    app.add_middleware(DryRunMiddleware)
    app.add_middleware(HostCheckMiddleware, allowed_hosts=edge.host_patterns)
    app.add_middleware(DjangoPathMiddleware)
    app.add_middleware(RequestIdMiddleware)
    #: Read by the pagination's absolute links (pagination.absolute_uri).
    app.state.public_origin = edge.public_origin.rstrip("/")
    for router in routers:
        app.include_router(router)
    add_docs_page(app)
    return app
