"""APIs whose reads are open to anyone and whose writes need a staff caller (a staff user, or a
service account: those are staff accounts, ``service_token.py``).

* ``GET``, ``HEAD`` and ``OPTIONS`` never look at credentials: a read with a missing, expired or
  forged token is answered as one without any.
* Any other method the view answers needs a bearer token, checked before the body is parsed:
  none, or a refused one, is the one 401 (``contracts.tokens.UNAUTHENTICATED_BODY`` +
  ``WWW-Authenticate``); a customer's valid token is a 403 ``permission_denied`` with the API's
  own sentence. A method the view does not answer stays its 405 for anyone (as on the services,
  whose router answers it before any check).

The extracted services apply the same rule (``extracted.chassis.web.access``).
"""

from __future__ import annotations

from typing import ClassVar

from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView

from monolith.identity.authentication import BearerTokenAuthentication
from monolith.identity.principal import Principal


class StaffWrites(BasePermission):
    """Reads for anyone, writes for staff; ``message`` is the 403's ``detail``."""

    message: ClassVar[str] = "Only staff may do this."
    code = "permission_denied"

    def has_permission(self, request: Request, view: APIView) -> bool:
        method = request.method or ""
        if method in SAFE_METHODS or not hasattr(view, method.lower()):
            return True
        user = request.user  # authenticates now: a refused token raises the 401 here
        return isinstance(user, Principal) and user.is_staff


class StaffWritesApi(APIView):
    """Base of an API under ``StaffWrites`` (a subclass names its own permission, for its
    403 sentence). Authentication is lazy: only a write (the permission) asks who is calling."""

    authentication_classes = [BearerTokenAuthentication]
    permission_classes: list[type[BasePermission]] = [StaffWrites]

    def perform_authentication(self, request: Request) -> None:
        """Nothing up front (DRF's documented way to authenticate on first use of
        ``request.user``), so a read never fails on its credentials."""
