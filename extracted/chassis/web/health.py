"""``/health/live`` (the process answers) and ``/health/ready`` (its database answers too, and the
revocation list its token verifier checks, if any, is loaded:
``extracted.chassis.web.revocations``)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Request
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from extracted.chassis.web.responses import ContractJSONResponse
from extracted.chassis.web.revocations import app_revocations


def database_ready(sessions: sessionmaker[Session]) -> str | None:
    """None when ``SELECT 1`` succeeds, else a one-line reason."""
    try:
        with sessions() as session:
            session.execute(text("SELECT 1"))
    except Exception as exc:  # any failure to reach the database means "not ready"
        reason = str(exc).strip()
        return f"database: {reason.splitlines()[0] if reason else type(exc).__name__}"
    return None


def revocations_ready(request: Request) -> str | None:
    """None unless the app's token verifier checks a revocation list not loaded yet."""
    revocations = app_revocations(request.app)
    if revocations is not None and not revocations.loaded:
        return f"revocations: no list loaded yet from {revocations.url}"
    return None


def health_router(get_sessions: Callable[[], sessionmaker[Session]]) -> APIRouter:
    router = APIRouter()

    @router.api_route("/health/live", methods=["GET", "HEAD"])
    def live() -> ContractJSONResponse:
        return ContractJSONResponse({"status": "ok"})

    @router.api_route("/health/ready", methods=["GET", "HEAD"])
    def ready(request: Request) -> ContractJSONResponse:
        problem = database_ready(get_sessions()) or revocations_ready(request)
        if problem is not None:
            return ContractJSONResponse(
                {"status": "unavailable", "detail": problem}, status_code=503
            )
        return ContractJSONResponse({"status": "ok"})

    return router
