"""The base of every view of the monolith's internal HTTP (``/internal/...``, never forwarded by
the proxy), and its one check of the sync token (the rule, the token and the answers:
``contracts.sync_token``).

``SyncTokenForWrites`` is a DRF permission: a safe method passes, any other method the view
answers needs this owner's sync token (401 or 403 with the same bodies as the services'),
checked before the view reads its body. ``InternalApi`` carries it, so a view added under
``/internal/`` later is covered by subclassing it; the structural test (``tests/security/``)
fails for an internal view that does not.
"""

from __future__ import annotations

from rest_framework import exceptions
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView

from contracts.sync_token import Refusal, needs_sync_token, sync_token_refusal


class SyncTokenRefused(exceptions.APIException):
    """A ``Refusal`` as DRF raises it; the exception handler writes the contract's body
    (``error`` from ``default_code``) and ``WWW-Authenticate`` from ``auth_header``."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(detail=refusal.detail, code=refusal.error)
        self.status_code = refusal.status
        self.default_code = refusal.error
        self.auth_header = refusal.headers.get("WWW-Authenticate")


class SyncTokenForWrites(BasePermission):
    def has_permission(self, request: Request, view: APIView) -> bool:
        method = request.method or ""
        # A method the view does not answer stays its 405, as on the services.
        if not needs_sync_token(method) or not hasattr(view, method.lower()):
            return True
        refusal = sync_token_refusal(request.META.get("HTTP_AUTHORIZATION"))
        if refusal is not None:
            raise SyncTokenRefused(refusal)
        return True


class InternalApi(APIView):
    """Base of every internal view: no caller identity (the sync token is not a user), reads
    open, everything else behind the sync token."""

    authentication_classes: list[type] = []
    permission_classes = [SyncTokenForWrites]
