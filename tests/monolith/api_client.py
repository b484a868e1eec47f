"""A thin JSON wrapper over Django's test client (in-process, one app: allowed for per-endpoint
tests; anything crossing processes uses real servers)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.test import Client


@dataclass
class JsonResponse:
    status: int
    body: Any
    headers: dict[str, str]
    raw: bytes


class JsonClient:
    """``headers`` go with every request (e.g. an ``Authorization`` of one caller); a request's
    own headers win."""

    def __init__(self, client: Client, *, headers: dict[str, str] | None = None) -> None:
        self.client = client
        self.default_headers = dict(headers or {})

    def _headers(self, headers: dict[str, str] | None) -> dict[str, str]:
        return {**self.default_headers, **(headers or {})}

    def _wrap(self, response: Any) -> JsonResponse:
        raw = response.content
        body = json.loads(raw) if raw else None
        return JsonResponse(response.status_code, body, dict(response.headers), raw)

    def get(
        self, path: str, *, headers: dict[str, str] | None = None, **extra: Any
    ) -> JsonResponse:
        return self._wrap(self.client.get(path, headers=self._headers(headers), **extra))

    def head(self, path: str, **extra: Any) -> JsonResponse:
        return self._wrap(self.client.head(path, headers=self._headers(None), **extra))

    def send(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        raw: bytes | None = None,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> JsonResponse:
        """``body`` is JSON-encoded; ``raw`` is sent as is (malformed bodies, other types)."""
        data = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
        return self._wrap(
            self.client.generic(
                method, path, data=data, content_type=content_type, headers=self._headers(headers)
            )
        )

    def post(self, path: str, body: Any = None, **kwargs: Any) -> JsonResponse:
        return self.send("POST", path, body, **kwargs)
