"""The orders service's own access token, for its calls to payments and inventory (whose writes
need a staff user or a service account).

Why not forward the caller's bearer token: a saga outlives its request. After a crash the
recovery loop must repeat the charge or refund it with no caller at hand (and a forwarded token
may have expired by then), and the charge's ``Idempotency-Key`` belongs to the principal that sent
it, so every try of one charge must be sent by the same principal or a repeat would charge again.
So the service calls as one staff account and names the order's customer in the body; ownership
is checked by the orders service against the verified caller before any step runs, and the
payment still belongs to the order's customer downstream (they see it, nobody else does).

The token is either fixed (``ORDERS_SERVICE_TOKEN``) or obtained with the account's password at
the monolith's ``/api/auth/token/`` and renewed a minute before it expires.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import httpx

from extracted.orders.clients.upstream import UpstreamUnavailable

#: Renew this long before the token's lifetime ends.
RENEW_MARGIN_S = 60.0


class ServiceTokenUnavailable(Exception):
    pass


class ServiceToken:
    def __init__(
        self,
        *,
        fixed: str | None,
        username: str | None,
        password: str | None,
        token_url: str,
        timeout_s: float = 5.0,
    ) -> None:
        self._fixed = fixed
        self._username = username
        self._password = password
        self._token_url = token_url
        self._timeout_s = timeout_s
        self._lock = threading.Lock()
        self._token: str | None = None
        self._renew_at = 0.0

    def __call__(self) -> str:
        if self._fixed:
            return self._fixed
        with self._lock:
            if self._token is None or time.monotonic() >= self._renew_at:
                self._fetch()
            assert self._token is not None
            return self._token

    def _fetch(self) -> None:
        if not (self._username and self._password):
            raise ServiceTokenUnavailable(
                "set ORDERS_SERVICE_TOKEN, or ORDERS_SERVICE_USERNAME and ORDERS_SERVICE_PASSWORD"
            )
        try:
            response = httpx.post(
                self._token_url,
                json={"username": self._username, "password": self._password},
                timeout=self._timeout_s,
            )
        except httpx.HTTPError as exc:
            raise ServiceTokenUnavailable(f"{self._token_url}: {exc!r}") from exc
        if response.status_code != 200:
            raise ServiceTokenUnavailable(f"{self._token_url}: {response.status_code}")
        body = response.json()
        self._token = str(body["access_token"])
        self._renew_at = time.monotonic() + max(0.0, float(body["expires_in"]) - RENEW_MARGIN_S)


def bearer(token: Callable[[], str], upstream: str) -> dict[str, str]:
    """The ``Authorization`` header of a call to ``upstream`` as the service account; a token
    that cannot be had is that upstream unavailable, with nothing sent."""
    try:
        value = token()
    except ServiceTokenUnavailable as exc:
        raise UpstreamUnavailable(upstream, str(exc), sent=False) from exc
    return {"Authorization": f"Bearer {value}"}
