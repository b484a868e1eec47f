"""Routers whose reads are open to anyone and whose writes need a staff caller (a staff user, or
a service account: those are staff accounts); the monolith's ``monolith.identity.staff_writes``.

``staff_writes(detail)`` is the router's dependency, so it runs where DRF checks a view's
permissions: before the handler, and before the body is read. ``GET``, ``HEAD`` and ``OPTIONS``
never look at credentials; any other method without a valid token is the one 401
(``identity.NotAuthenticated``), and with a customer's token a 403 ``permission_denied`` saying
``detail``. A method a path has no route for is the router's 405 before any check, for anyone.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Request

from extracted.chassis.web.errors import ApiError
from extracted.chassis.web.identity import current_caller

#: DRF's ``SAFE_METHODS``: the reads.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class NotStaff(ApiError):
    def __init__(self, detail: str) -> None:
        super().__init__(403, "permission_denied", detail)


def staff_writes(detail: str) -> Callable[[Request], None]:
    """The dependency: reads for anyone, writes for staff (``detail``: the 403's sentence)."""

    def check(request: Request) -> None:
        if request.method in SAFE_METHODS:
            return
        if not current_caller(request).is_staff:
            raise NotStaff(detail)

    return check
