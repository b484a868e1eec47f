"""The one exception handler of the monolith's APIs: every refusal gets the contract's body,
``{"error": <code>, "detail": <sentence>, ...extra keys}`` (docs/inventory-api.md)."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.settings import api_settings

from contracts.json_limits import MALFORMED_DETAIL
from contracts.tokens import UNAUTHENTICATED_BODY, WWW_AUTHENTICATE
from monolith.api.parsers import BodyLimitExceeded
from monolith.errors import ApplicationError

logger = logging.getLogger(__name__)

#: HTTP status of each domain error code.
STATUS_BY_CODE = {
    "validation_error": 400,
    "not_found": 404,
    "conflict": 409,
    "insufficient_stock": 409,
    "invalid_state": 409,
    "invalid_credentials": 401,
    "permission_denied": 403,
    "payment_declined": 402,
    "gateway_error": 502,
    "refund_exceeds_captured": 409,
    "idempotency_key_reused": 422,
    "unavailable": 503,
}


def contract_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's ``EXCEPTION_HANDLER``; ``None`` lets anything unexpected become a 500."""
    if isinstance(exc, ApplicationError):
        retry_after = getattr(exc, "retry_after_s", None)
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
        status = STATUS_BY_CODE.get(exc.code, 400)
        response = _error(status, exc.code, exc.detail, headers=headers, **exc.extra())
        if retry_after is not None:
            # A refusal for a moment, by design (a direction switch's freeze, an owner out of
            # reach): one warning line, not the ERROR Django logs for every 5xx.
            request = context.get("request")
            logger.warning(
                "%s %s answered %s %s, retry after %s s: %s",
                getattr(request, "method", "-"),
                getattr(request, "path", "-"),
                status,
                exc.code,
                retry_after,
                exc.detail,
            )
            # django.utils.log.log_response skips a response marked so.
            response._has_been_logged = True  # type: ignore[attr-defined]
        return response
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        # One body for every refused credential, whatever the reason (contracts/tokens.py).
        return Response(
            UNAUTHENTICATED_BODY, status=401, headers={"WWW-Authenticate": WWW_AUTHENTICATE}
        )
    if isinstance(exc, exceptions.ValidationError):
        return _error(400, "validation_error", "Invalid input.", fields=flatten_errors(exc.detail))
    if isinstance(exc, BodyLimitExceeded):
        return _error(400, "malformed_request", str(exc.detail))
    if isinstance(exc, exceptions.ParseError):
        return _error(400, "malformed_request", MALFORMED_DETAIL)
    if isinstance(exc, exceptions.UnsupportedMediaType):
        media_type = _media_type_as_sent(context)
        detail = f'Unsupported media type "{media_type}" in request.'
        return _error(exc.status_code, "unsupported_media_type", detail)
    if isinstance(exc, exceptions.APIException):
        headers = {}
        auth_header = getattr(exc, "auth_header", None)
        if auth_header:
            headers["WWW-Authenticate"] = str(auth_header)
        wait = getattr(exc, "wait", None)
        if wait:
            headers["Retry-After"] = str(wait)
        return _error(exc.status_code, exc.default_code, str(exc.detail), headers=headers)
    return None


def flatten_errors(detail: Any) -> dict[str, list[str]]:
    """DRF's nested error detail -> ``{"dotted.key": [messages]}``, keys sorted.

    ``{"lines": {0: {"quantity": [...]}}}`` becomes ``{"lines.0.quantity": [...]}``; errors that
    belong to no field are keyed ``non_field_errors``.
    """
    flat: dict[str, list[str]] = {}

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{path}.{key}" if path else str(key))
        elif isinstance(node, list) and any(isinstance(item, dict | list) for item in node):
            for index, item in enumerate(node):
                walk(item, f"{path}.{index}" if path else str(index))
        elif isinstance(node, list):
            flat.setdefault(path or api_settings.NON_FIELD_ERRORS_KEY, []).extend(map(str, node))
        else:
            flat.setdefault(path or api_settings.NON_FIELD_ERRORS_KEY, []).append(str(node))

    walk(detail, "")
    return dict(sorted(flat.items()))


def _media_type_as_sent(context: dict[str, Any]) -> str:
    request = context.get("request")
    content_type = str(getattr(request, "content_type", "") or "")
    return content_type.split(";", 1)[0].strip()


def _error(
    status: int, code: str, detail: str, /, *, headers: dict[str, str] | None = None, **extra: Any
) -> Response:
    # Positional-only, so an error body may carry keys named like them (``"status"`` of
    # ``invalid_state``).
    return Response({"error": code, "detail": detail, **extra}, status=status, headers=headers)
