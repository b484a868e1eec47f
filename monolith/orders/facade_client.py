"""HTTP to a capability's owner through the façade (``settings.FACADE_URL``, the proxy's public
listener: its route table decides who answers, so a flag flip moves these calls too).

Timeouts on every call; retries with jittered backoff (tenacity) for idempotent calls only, on
what says "not now" (no connection, a 500/503/504, a 502 that is not the card gateway's): a
switch's freeze answers 503 + ``Retry-After`` for a moment, and a retry after it lands at the new
owner. Every call either returns the owner's answer or raises ``OwnerUnavailable`` saying
whether the request may have reached the owner (``sent``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import httpx
from django.conf import settings
from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from monolith.identity.service_token import ServiceToken
from monolith.orders.ports import OwnerUnavailable

logger = logging.getLogger(__name__)

#: Answers that mean "the owner cannot answer now" (counted as failed tries, retried).
UNHEALTHY_STATUSES = frozenset({500, 502, 503, 504})


class _Retryable(Exception):
    def __init__(self, failure: OwnerUnavailable) -> None:
        super().__init__(str(failure))
        self.failure = failure


def _unhealthy(response: httpx.Response) -> bool:
    if response.status_code not in UNHEALTHY_STATUSES:
        return False
    if response.status_code == 502:  # the card gateway's failure is an answer, not an outage
        try:
            return bool(response.json().get("error") != "gateway_error")
        except ValueError:
            return True
    return True


class FacadeClient:
    def __init__(
        self,
        base_url: str,
        *,
        token: Callable[[], str],
        connect_timeout_s: float,
        read_timeout_s: float,
        attempts: int,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.token = token
        self.attempts = attempts
        self._http = httpx.Client(
            base_url=base_url,
            timeout=httpx.Timeout(read_timeout_s, connect=connect_timeout_s),
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def call(
        self,
        capability: str,
        method: str,
        path: str,
        *,
        idempotent: bool,
        json: Any = None,
        key: str | None = None,
    ) -> httpx.Response:
        sent = False

        def attempt() -> httpx.Response:
            nonlocal sent
            headers = {"Authorization": f"Bearer {self.token()}"}
            if key is not None:
                headers["Idempotency-Key"] = key
            try:
                response = self._http.request(method, path, json=json, headers=headers)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                raise _Retryable(OwnerUnavailable(capability, repr(exc), sent=False)) from exc
            except httpx.TransportError as exc:  # read/write timeouts, resets: maybe processed
                sent = True
                raise _Retryable(OwnerUnavailable(capability, repr(exc), sent=True)) from exc
            if _unhealthy(response):
                sent = True
                reason = f"{response.status_code}: {response.text[:200]}"
                raise _Retryable(OwnerUnavailable(capability, reason, sent=True))
            return response

        retrying = Retrying(
            stop=stop_after_attempt(self.attempts if idempotent else 1),
            wait=wait_random_exponential(multiplier=0.1, max=1.0),
            retry=retry_if_exception_type(_Retryable),
            reraise=False,
        )
        try:
            return retrying(attempt)
        except RetryError as exc:
            last = exc.last_attempt.exception()
            assert isinstance(last, _Retryable)
            logger.warning("%s owner unavailable: %s", capability, last.failure.reason)
            raise OwnerUnavailable(capability, last.failure.reason, sent=sent) from None


_clients: dict[str, FacadeClient] = {}
_clients_lock = threading.Lock()


def facade_client() -> FacadeClient:
    """The process's client of the façade ``settings.FACADE_URL`` names (thread-safe: httpx
    pools connections across threads)."""
    base_url = settings.FACADE_URL
    with _clients_lock:
        client = _clients.get(base_url)
        if client is None:
            client = _clients[base_url] = FacadeClient(
                base_url,
                token=ServiceToken(settings.ORDERS_REMOTE_ACCOUNT),
                connect_timeout_s=settings.ORDERS_REMOTE_CONNECT_TIMEOUT_S,
                read_timeout_s=settings.ORDERS_REMOTE_READ_TIMEOUT_S,
                attempts=settings.ORDERS_REMOTE_ATTEMPTS,
            )
        return client
