"""The sync token on a service's internal HTTP (the rule, the token and the answers:
``contracts.sync_token``).

``require_sync_token`` is the one check of the services: a FastAPI dependency that lets a safe
method through and refuses any other request that does not carry this service's token (401 or
403 with the contract's body), before the endpoint reads its body or touches its database.
``internal_router`` is how a service builds every router under ``/internal/``: the check comes
with the router, so an endpoint added to one later is covered without anyone remembering it, and
the structural test (``tests/security/``) fails for an internal route that is not.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from contracts.sync_token import needs_sync_token, sync_token_refusal
from extracted.chassis.web.errors import ApiError


def require_sync_token(request: Request) -> None:
    """Refuse a request the rule says needs the token, unless it carries the right one."""
    if not needs_sync_token(request.method):
        return
    # Several headers are one value joined by commas, as the monolith's WSGI server joins them:
    # never the token, so the same 401.
    given = request.headers.getlist("authorization")
    refusal = sync_token_refusal(", ".join(given) if given else None)
    if refusal is not None:
        raise ApiError(refusal.status, refusal.error, refusal.detail, headers=refusal.headers)


def internal_router(prefix: str = "") -> APIRouter:
    """A router of internal endpoints: reads open, everything else behind the sync token."""
    return APIRouter(prefix=prefix, dependencies=[Depends(require_sync_token)])
