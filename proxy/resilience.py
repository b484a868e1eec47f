"""Circuit breakers and retry budgets: one of each per upstream.

A retry budget (:class:`RetryBudgets`) bounds how many retries may be in flight to an upstream
at once: fewer than ``budget_percent`` of the requests in flight to it, but at least
``min_concurrent`` (Envoy's retry budget). A struggling upstream therefore sees at most ~20%
extra load from retries, never a retry storm.

Circuit breakers: one per upstream, so a failing target is skipped instead of waited on.

A breaker counts consecutive failures (no answer, or a 5xx). At ``failures`` it opens: for
``cooldown_s`` the proxy does not try that upstream where it has a choice (a read on a route
with a ``fallback`` goes straight to the fallback). After the cooldown one request
probes the upstream (half-open): success closes the breaker, failure opens it again. Writes are
never diverted: they go to their upstream or fail, so they are never sent twice or elsewhere.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Literal

from proxy.config import Breaker, Retry, Upstream

State = Literal["closed", "open", "half_open"]


class CircuitBreaker:
    def __init__(self, settings: Breaker, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False

    @property
    def state(self) -> State:
        if self._opened_at is None:
            return "closed"
        if self._probing or self._clock() >= self._opened_at + self.settings.cooldown_s:
            return "half_open"
        return "open"

    def allow(self) -> bool:
        """May a request be sent now? In half-open state, only one probe at a time."""
        state = self.state
        if state == "closed":
            return True
        if state == "half_open" and not self._probing:
            self._probing = True
            return True
        return False

    def abandon(self) -> None:
        """A call ended without a verdict (cancelled): let the next request probe instead."""
        self._probing = False

    def record(self, *, ok: bool) -> None:
        if ok:
            self._failures = 0
            self._opened_at = None
            self._probing = False
            return
        self._failures += 1
        if self._probing or self._failures >= self.settings.failures:
            self._opened_at = self._clock()
            self._probing = False


class Breakers:
    """The breakers of the current upstreams; one is kept across reloads while its upstream's
    URL and breaker settings stay the same."""

    def __init__(self) -> None:
        self._by_name: dict[str, tuple[tuple[str, Breaker], CircuitBreaker]] = {}

    def sync(self, upstreams: Mapping[str, Upstream]) -> None:
        fresh: dict[str, tuple[tuple[str, Breaker], CircuitBreaker]] = {}
        for name, upstream in upstreams.items():
            key = (upstream.url, upstream.breaker)
            kept = self._by_name.get(name)
            fresh[name] = (
                kept if kept and kept[0] == key else (key, CircuitBreaker(upstream.breaker))
            )
        self._by_name = fresh

    def get(self, name: str) -> CircuitBreaker | None:
        entry = self._by_name.get(name)
        return entry[1] if entry else None

    def states(self) -> dict[str, State]:
        return {name: breaker.state for name, (_, breaker) in self._by_name.items()}


class RetryBudgets:
    """Requests and retries in flight, per upstream name (one event loop: no locking)."""

    def __init__(self) -> None:
        self._active: dict[str, int] = {}
        self._retrying: dict[str, int] = {}

    def begin(self, name: str) -> None:
        self._active[name] = self._active.get(name, 0) + 1

    def end(self, name: str) -> None:
        self._active[name] -= 1

    def try_retry(self, name: str, retry: Retry) -> bool:
        """Take a retry slot if the budget allows one; :meth:`retry_done` gives it back."""
        retrying = self._retrying.get(name, 0)
        allowed = max(retry.min_concurrent, retry.budget_percent / 100 * self._active.get(name, 0))
        if retrying >= allowed:
            return False
        self._retrying[name] = retrying + 1
        return True

    def retry_done(self, name: str) -> None:
        self._retrying[name] -= 1

    def in_flight(self, name: str) -> tuple[int, int]:
        """``(requests, retries)`` in flight to the upstream."""
        return self._active.get(name, 0), self._retrying.get(name, 0)
