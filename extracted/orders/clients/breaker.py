"""A circuit breaker per upstream (thread-safe: requests and the recovery loop share it).

Counts consecutive failures (no answer, or a 500/503/504). At ``failures`` it opens: for
``reset_s`` every call fails fast without being sent. After that one call probes (half-open):
success closes the breaker, failure opens it again.

Own code (as in ``proxy/resilience.py``) rather than ``circuitbreaker``/``pybreaker``: those wrap
a function and count its exceptions, while here the verdict is per HTTP answer (a 402 or 409 is a
healthy upstream saying no), a checkout must ask "is it open?" before it starts anything (without
using up the half-open probe), and the state is exported as a metric. That is 40 lines.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Literal

State = Literal["closed", "open", "half_open"]


class CircuitBreaker:
    def __init__(
        self, *, failures: int, reset_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.failures = failures
        self.reset_s = reset_s
        self._clock = clock
        self._lock = threading.Lock()
        self._count = 0
        self._opened_at: float | None = None
        self._probing = False

    def _state(self) -> State:
        if self._opened_at is None:
            return "closed"
        if self._probing or self._clock() >= self._opened_at + self.reset_s:
            return "half_open"
        return "open"

    @property
    def state(self) -> State:
        with self._lock:
            return self._state()

    def is_open(self) -> bool:
        """Would a call be refused right now? (Does not take the half-open probe.)"""
        with self._lock:
            return self._state() == "open" or (self._state() == "half_open" and self._probing)

    def allow(self) -> bool:
        """May a call be sent now? In half-open state, one probe at a time."""
        with self._lock:
            state = self._state()
            if state == "closed":
                return True
            if state == "half_open" and not self._probing:
                self._probing = True
                return True
            return False

    def record(self, *, ok: bool) -> None:
        with self._lock:
            if ok:
                self._count = 0
                self._opened_at = None
                self._probing = False
                return
            self._count += 1
            if self._probing or self._count >= self.failures:
                self._opened_at = self._clock()
                self._probing = False
