"""Django's error views (``handler404`` ...) answering with the contract's JSON error body.

They cover what never reaches a DRF view: unknown URLs, a crash outside DRF's handler, requests
Django refuses before routing (bad Host, oversized body).
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from monolith.api.responses import error_response


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return error_response(400, "bad_request", "Bad request.")


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return error_response(
        403, "permission_denied", "You do not have permission to perform this action."
    )


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return error_response(404, "not_found", "Not found.")


def server_error(request: HttpRequest) -> HttpResponse:
    return error_response(500, "server_error", "Server error.")
