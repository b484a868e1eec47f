"""One upstream: an ``httpx.Client`` with timeouts, a circuit breaker, retries with jittered
backoff (tenacity) for idempotent calls only, and the caller's request id and ``traceparent``.

Every call either returns the upstream's HTTP answer (any status the upstream chose to give,
except 500/503/504) or raises ``UpstreamUnavailable``, which says whether the request may have
reached the upstream (``sent``): a refused connection or an open breaker means it surely did not,
so the saga knows nothing needs undoing there; a timeout or a 5xx means it may have.

The calls go through the façade (the proxy's public port, ``STRANGLER_FACADE_URL``), whose route
table says who answers. When the proxy could not get an answer from that owner it answers itself
(``X-Strangler-Upstream: -``, 502/503/504): that counts as the upstream being down, like a
refused connection here, and ``X-Strangler-Unreached: 1`` says the owner surely never saw the
request (the proxy could not connect, or its circuit was open). A dry run's calls carry the sync
token in ``X-Strangler-Caller``, the one way a dry run crosses the proxy
(proxy/internal_callers.py).
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from typing import Any

import httpx
from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from extracted.orders.clients.breaker import CircuitBreaker

logger = logging.getLogger(__name__)

#: Answers that mean "the upstream is not well", counted by the breaker and retried.
UNHEALTHY_STATUSES = frozenset({500, 503, 504})
#: The façade's own answers for an owner it got no answer from (proxy/retrying.py).
FACADE_FAILURE_STATUSES = frozenset({502, 503, 504})


def facade_failure(response: httpx.Response) -> bool:
    """Is this the proxy answering for an owner that gave no answer (not the owner's answer)?
    A payments 502 ``gateway_error`` is the owner's own, and passes through the proxy as it is."""
    return (
        response.status_code in FACADE_FAILURE_STATUSES
        and response.headers.get("X-Strangler-Upstream") == "-"
    )


class UpstreamUnavailable(Exception):
    def __init__(self, upstream: str, reason: str, *, sent: bool) -> None:
        super().__init__(f"{upstream}: {reason}")
        self.upstream = upstream
        self.reason = reason
        self.sent = sent


class UnexpectedAnswer(UpstreamUnavailable):
    """An answer the contract does not allow for this call (the upstream is misbehaving)."""

    def __init__(self, upstream: str, response: httpx.Response) -> None:
        super().__init__(
            upstream, f"unexpected {response.status_code}: {response.text[:200]}", sent=True
        )
        self.status_code = response.status_code


@dataclass(frozen=True)
class CallContext:
    """What every call of one request (or one saga run) carries along."""

    request_id: str
    trace_id: str = field(default_factory=lambda: secrets.token_hex(16))
    trace_flags: str = "01"
    dry_run: bool = False

    def traceparent(self) -> str:
        """W3C ``traceparent``: the request's trace, a new span id for this call."""
        return f"00-{self.trace_id}-{secrets.token_hex(8)}-{self.trace_flags}"

    def headers(self) -> dict[str, str]:
        headers = {"X-Request-Id": self.request_id, "traceparent": self.traceparent()}
        if self.dry_run:
            headers["X-Strangler-Dry-Run"] = "1"
        return headers


class _Retryable(Exception):
    def __init__(self, failure: UpstreamUnavailable) -> None:
        super().__init__(str(failure))
        self.failure = failure


class Upstream:
    def __init__(
        self,
        name: str,
        base_url: str,
        *,
        breaker: CircuitBreaker,
        connect_timeout_s: float,
        read_timeout_s: float,
        retry_attempts: int,
        transport: httpx.BaseTransport | None = None,
        caller_token: str | None = None,
    ) -> None:
        self.name = name
        self.breaker = breaker
        self.retry_attempts = retry_attempts
        #: The sync token, sent as ``X-Strangler-Caller`` with a dry run's calls only.
        self.caller_token = caller_token
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            timeout=httpx.Timeout(read_timeout_s, connect=connect_timeout_s),
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def call(
        self,
        method: str,
        path: str,
        *,
        context: CallContext,
        idempotent: bool,
        json: Any = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """Send (and, when ``idempotent``, retry) one call; see the module docstring."""
        sent = False
        sending = {**context.headers(), **(headers or {})}
        if context.dry_run and self.caller_token is not None:
            sending["X-Strangler-Caller"] = self.caller_token

        def attempt() -> httpx.Response:
            nonlocal sent
            if not self.breaker.allow():
                raise UpstreamUnavailable(self.name, "circuit open", sent=False)
            try:
                response = self._http.request(method, path, json=json, headers=sending)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                self.breaker.record(ok=False)
                raise _Retryable(UpstreamUnavailable(self.name, repr(exc), sent=False)) from exc
            except httpx.TransportError as exc:  # read/write timeouts, resets: maybe processed
                sent = True
                self.breaker.record(ok=False)
                raise _Retryable(UpstreamUnavailable(self.name, repr(exc), sent=True)) from exc
            if facade_failure(response):
                reached = response.headers.get("X-Strangler-Unreached") != "1"
                sent = sent or reached
                self.breaker.record(ok=False)
                reason = f"{response.status_code} from the proxy: {response.text[:200]}"
                raise _Retryable(UpstreamUnavailable(self.name, reason, sent=reached))
            if response.status_code in UNHEALTHY_STATUSES:
                sent = True
                self.breaker.record(ok=False)
                reason = f"{response.status_code}: {response.text[:200]}"
                raise _Retryable(UpstreamUnavailable(self.name, reason, sent=True))
            self.breaker.record(ok=True)
            return response

        retrying = Retrying(
            stop=stop_after_attempt(self.retry_attempts if idempotent else 1),
            wait=wait_random_exponential(multiplier=0.05, max=1.0),
            retry=retry_if_exception_type(_Retryable),
            reraise=False,
        )
        try:
            return retrying(attempt)
        except RetryError as exc:
            last = exc.last_attempt.exception()
            assert isinstance(last, _Retryable)
            failure = last.failure
            logger.warning("upstream %s unavailable: %s", self.name, failure.reason)
            raise UpstreamUnavailable(self.name, failure.reason, sent=sent) from None
