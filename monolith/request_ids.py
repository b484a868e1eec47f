"""Request ids: keep a sane client ``X-Request-Id`` or make one, echo it, and stamp log records.

The id lives in a context variable for the duration of one request, so every log record written
while serving it (by any logger) carries it through :class:`RequestIdLogFilter`.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable
from contextvars import ContextVar

from django.http import HttpRequest, HttpResponse

HEADER = "X-Request-Id"
_META_KEY = "HTTP_X_REQUEST_ID"
#: What a client may send and have kept: short, printable, no spaces or separators to inject.
_SANE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

current_request_id: ContextVar[str | None] = ContextVar("current_request_id", default=None)


def request_id_from(value: str | None) -> str:
    """The client's id when it is sane, else a fresh one."""
    if value and _SANE.match(value):
        return value
    return uuid.uuid4().hex


class RequestIdMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = request_id_from(request.META.get(_META_KEY))
        request.META[_META_KEY] = request_id
        token = current_request_id.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            current_request_id.reset(token)
        response[HEADER] = request_id
        return response


class RequestIdLogFilter(logging.Filter):
    """Adds ``request_id`` (``"-"`` outside a request) to every record it sees.

    Django logs refused requests (4xx/5xx) after the middleware chain has returned; those
    records carry the request itself, where the middleware left the id.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        request_id = current_request_id.get()
        if request_id is None:
            request = getattr(record, "request", None)
            meta = getattr(request, "META", None)
            if isinstance(meta, dict):
                request_id = meta.get(_META_KEY)
        record.request_id = request_id or "-"
        return True
