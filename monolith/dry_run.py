"""Dry-run writes: ``X-Strangler-Dry-Run: 1`` runs a write in a transaction that is rolled back.

A middleware rather than a view mixin: it wraps *every* write endpoint (inventory today, orders
and payments later) without each view opting in, and it also covers the answers that never reach
a view's happy path (validation errors, 404s, the exception handler's bodies), so a dry run
answers exactly like the real write would. The services' own ``transaction.atomic()`` blocks
become savepoints inside this outer transaction, and the outbox rows they record are rolled back
with everything else.
"""

from __future__ import annotations

from collections.abc import Callable

from django.db import transaction
from django.http import HttpRequest, HttpResponse

from monolith.api.responses import error_response

HEADER = "X-Strangler-Dry-Run"
ROLLED_BACK = "rolled-back"
_META_KEY = "HTTP_X_STRANGLER_DRY_RUN"
_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class DryRunMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        value = request.META.get(_META_KEY)
        if value is None or request.method not in _WRITE_METHODS:
            return self.get_response(request)
        if value.strip() != "1":
            # Refuse rather than guess: a dry run mistaken for a real write would persist it.
            return error_response(
                400, "malformed_request", f'{HEADER} must be "1" when present on a write.'
            )
        with transaction.atomic():
            response = self.get_response(request)
            transaction.set_rollback(True)
        response[HEADER] = ROLLED_BACK
        return response
