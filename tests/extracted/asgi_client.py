"""A blocking in-process HTTP client for an ASGI app: ``httpx.ASGITransport`` driven through an
anyio blocking portal (Starlette's ``TestClient`` does the same but now warns about httpx)."""

from __future__ import annotations

from contextlib import AbstractContextManager
from functools import partial
from typing import Any

import httpx
from anyio.from_thread import BlockingPortal, start_blocking_portal
from starlette.types import ASGIApp


class BlockingASGIClient:
    """``headers`` go with every request (e.g. the sync token's ``Authorization``); a request's
    own headers win."""

    def __init__(
        self,
        app: ASGIApp,
        base_url: str = "http://testserver",
        *,
        headers: dict[str, str] | None = None,
    ) -> None:
        self._portal_cm: AbstractContextManager[BlockingPortal] = start_blocking_portal()
        self._portal = self._portal_cm.__enter__()
        self._client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=base_url, headers=headers
        )

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return self._portal.call(partial(self._client.request, method, url, **kwargs))

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def head(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("HEAD", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def close(self) -> None:
        self._portal.call(self._client.aclose)
        self._portal_cm.__exit__(None, None, None)
