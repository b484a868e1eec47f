"""The contract's error body as a response, for code that runs outside DRF views."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from rest_framework.renderers import JSONRenderer


def json_response(status: int, body: dict[str, Any]) -> HttpResponse:
    """Rendered like every DRF answer (compact, UTF-8), so bodies are byte-identical in shape."""
    return HttpResponse(JSONRenderer().render(body), status=status, content_type="application/json")


def error_response(status: int, code: str, detail: str, **extra: Any) -> HttpResponse:
    return json_response(status, {"error": code, "detail": detail, **extra})
