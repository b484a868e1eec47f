"""The contract's one error body shape, the exceptions that carry it, and their handlers (the
domain's refusals, ``extracted.chassis.domain_errors``, mapped to their status here).

``{"error": "<code>", "detail": "<sentence>", ...extra}`` for every refusal, including the ones the
router produces itself (unknown URL 404, 405 with ``Method "X" not allowed.``).
"""

from __future__ import annotations

from typing import Any, Final

from fastapi import FastAPI, Request
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from extracted.chassis.domain_errors import DomainError
from extracted.chassis.web.responses import ContractJSONResponse

#: Request-state key set when a refusal is one Django makes outside any DRF view (no ``Allow``).
OUTSIDE_VIEW_STATE = "answered_outside_view"


class ApiError(Exception):
    """A refusal with the contract's body; raise it anywhere below an endpoint."""

    #: True for refusals the monolith makes outside its DRF views (Django's handler400).
    outside_view = False

    def __init__(
        self,
        status_code: int,
        code: str,
        detail: str,
        *,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.code = code
        self.detail = detail
        self.extra = extra
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"error": self.code, "detail": self.detail, **self.extra}

    def response(self) -> ContractJSONResponse:
        return ContractJSONResponse(self.body(), status_code=self.status_code, headers=self.headers)


class NotFound(ApiError):
    def __init__(self, detail: str = "Not found.") -> None:
        super().__init__(404, "not_found", detail)


class Conflict(ApiError):
    def __init__(self, detail: str) -> None:
        super().__init__(409, "conflict", detail)


class InvalidState(ApiError):
    def __init__(self, detail: str) -> None:
        super().__init__(409, "invalid_state", detail)


class ValidationFailed(ApiError):
    """400 with every field's messages, keys dotted for nested errors and sorted."""

    def __init__(self, fields: dict[str, list[str]]) -> None:
        super().__init__(
            400, "validation_error", "Invalid input.", fields=dict(sorted(fields.items()))
        )
        self.fields = fields


class MalformedRequest(ApiError):
    def __init__(self, detail: str = "Body is not valid JSON.") -> None:
        super().__init__(400, "malformed_request", detail)


class UnsupportedMediaType(ApiError):
    def __init__(self, media_type: str) -> None:
        super().__init__(
            415, "unsupported_media_type", f'Unsupported media type "{media_type}" in request.'
        )


class BadRequest(ApiError):
    """Django's own 400 (bad Host, oversized body), answered by its ``handler400``."""

    outside_view = True

    def __init__(self) -> None:
        super().__init__(400, "bad_request", "Bad request.")


class MethodNotAllowed(ApiError):
    def __init__(self, method: str, *, allow: str | None = None) -> None:
        super().__init__(
            405,
            "method_not_allowed",
            f'Method "{method}" not allowed.',
            headers={"Allow": allow} if allow else None,
        )


#: The HTTP status of each refusal the domain raises (``extracted.chassis.domain_errors``), by its
#: code: the monolith's (``monolith.api.exception_handlers.STATUS_BY_CODE``).
STATUS_BY_CODE: Final = {
    "validation_error": 400,
    "not_found": 404,
    "conflict": 409,
    "insufficient_stock": 409,
    "invalid_state": 409,
    "payment_declined": 402,
    "gateway_error": 502,
    "refund_exceeds_captured": 409,
    "idempotency_key_reused": 422,
    "unavailable": 503,
}


def refusal(exc: DomainError) -> ApiError:
    """A domain refusal as the answer the contract gives it."""
    headers = None if exc.retry_after_s is None else {"Retry-After": str(exc.retry_after_s)}
    return ApiError(STATUS_BY_CODE[exc.code], exc.code, exc.detail, headers=headers, **exc.extra)


async def _domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    return refusal(exc).response()


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    if exc.outside_view:
        setattr(request.state, OUTSIDE_VIEW_STATE, True)
    return exc.response()


async def _http_error(request: Request, exc: Exception) -> Response:
    """What the router itself refuses, in the contract's shape."""
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:
        return NotFound().response()
    if exc.status_code == 405:
        allow = (exc.headers or {}).get("Allow") or (exc.headers or {}).get("allow")
        return MethodNotAllowed(request.method, allow=allow).response()
    headers = dict(exc.headers) if exc.headers else None
    return ApiError(exc.status_code, "http_error", str(exc.detail), headers=headers).response()


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
