"""Retries under budget, fallback and circuit breakers around upstream calls: the slow path.

A request whose first answer is final (not 502-504, no fallback wanted) never comes here on
the raw hot path (``proxy/hot_path.py`` decides that in a callback); a retryable answer, a
failure or an open circuit does, and pays a task. The rules themselves stay in
:func:`proxy.forward.should_retry` / :func:`proxy.forward.should_fall_back`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from proxy.config import Upstream
from proxy.forward import (
    IDEMPOTENT,
    RETRYABLE_STATUSES,
    UpstreamFailure,
    UpstreamPool,
    UpstreamResponse,
    should_fall_back,
    should_retry,
)
from proxy.metrics import ProxyMetrics
from proxy.raw_http import ProxyError
from proxy.resilience import Breakers, RetryBudgets
from proxy.routing import Decision

#: The outcome of one call: an answer, or the failure that stood for one.
Outcome = tuple[UpstreamResponse | None, UpstreamFailure | None]


def failure_error(failure: UpstreamFailure) -> ProxyError:
    if failure.kind == "timeout":
        return ProxyError(504, "gateway_timeout", f"Upstream {failure.detail}.")
    if failure.kind == "breaker_open":
        return ProxyError(
            503, "service_unavailable", f"Upstream {failure.upstream}: circuit is open."
        )
    return ProxyError(502, "bad_gateway", f"Upstream {failure.upstream}: {failure.detail}.")


@dataclass
class Forwarder:
    pool: UpstreamPool
    metrics: ProxyMetrics
    breakers: Breakers
    budgets: RetryBudgets = field(default_factory=RetryBudgets)

    def record(
        self, name: str, answer: UpstreamResponse | None, failure: UpstreamFailure | None
    ) -> None:
        """One call's outcome seen by the upstream's breaker and error counters."""
        breaker = self.breakers.get(name)
        if failure is not None:
            self.metrics.observe_upstream_error(upstream=name, kind=failure.kind)
            if breaker is not None:
                breaker.record(ok=False)
            return
        assert answer is not None
        if answer.status >= 500:
            self.metrics.observe_upstream_error(upstream=name, kind="5xx")
        if breaker is not None:
            breaker.record(ok=answer.status < 500)

    async def _send(
        self, name: str, upstreams: Mapping[str, Upstream], method: str, head: list[bytes]
    ) -> Outcome:
        try:
            answer = await self.pool.request(name, upstreams[name], method, head)
        except UpstreamFailure as err:
            self.record(name, None, err)
            return None, err
        except BaseException:  # cancelled (client went away): no verdict on the upstream
            breaker = self.breakers.get(name)
            if breaker is not None:
                breaker.abandon()
            raise
        self.record(name, answer, None)
        return answer, None

    async def attempt(
        self,
        name: str,
        upstreams: Mapping[str, Upstream],
        method: str,
        head: list[bytes],
        first: Outcome | None = None,
    ) -> Outcome:
        """Call ``name``, and call it again (``retry.attempts`` times at most) while the answer
        is retryable (:func:`~proxy.forward.should_retry`), its circuit is closed and its retry
        budget has room. The last answer or failure is returned. ``first``: the outcome of a
        first call already made (and recorded) by the caller, inside ``budgets.begin``."""
        budgets = self.budgets
        retry = upstreams[name].retry
        tries_left = retry.attempts
        retrying = False
        if first is None:
            budgets.begin(name)
        try:
            while True:
                if first is not None:
                    answer, failure = first
                    first = None
                else:
                    try:
                        answer, failure = await self._send(name, upstreams, method, head)
                    finally:
                        if retrying:
                            budgets.retry_done(name)
                            retrying = False
                if answer is not None and answer.status not in RETRYABLE_STATUSES:
                    return answer, None
                if not tries_left or not should_retry(
                    method,
                    failure=failure.kind if failure is not None else None,
                    status=answer.status if answer is not None else None,
                ):
                    return answer, failure
                breaker = self.breakers.get(name)
                if breaker is not None and breaker.state != "closed":
                    return answer, failure
                if not budgets.try_retry(name, retry):
                    self.metrics.observe_retry(upstream=name, sent=False)
                    return answer, failure
                self.metrics.observe_retry(upstream=name, sent=True)
                tries_left -= 1
                retrying = True
        finally:
            budgets.end(name)

    def must_detour(self, decision: Decision, method: str) -> bool:
        """Is the primary skipped (an idempotent request with a fallback, circuit not closed)?
        Only then may the breaker be asked (``allow`` takes the half-open probe)."""
        if decision.fallback is None or method not in IDEMPOTENT:
            return False
        assert decision.primary is not None
        breaker = self.breakers.get(decision.primary)
        return breaker is not None and breaker.state != "closed"

    async def forward(
        self,
        decision: Decision,
        upstreams: Mapping[str, Upstream],
        method: str,
        head: list[bytes],
        first: Outcome | None = None,
    ) -> tuple[str, UpstreamResponse]:
        """The primary upstream's answer, or the fallback's for an idempotent request when the
        primary gave none, gave a 5xx, or its circuit is open. ProxyError when nobody answered."""
        name = decision.primary
        assert name is not None
        answer: UpstreamResponse | None = None
        failure: UpstreamFailure | None = None
        breaker = self.breakers.get(name)
        can_fall_back = decision.fallback is not None and method in IDEMPOTENT
        if first is None and can_fall_back and breaker is not None and not breaker.allow():
            failure = UpstreamFailure(name, "breaker_open", "circuit is open")
        else:
            answer, failure = await self.attempt(name, upstreams, method, head, first)
        status = answer.status if answer is not None else None
        if decision.fallback and should_fall_back(
            method, fallback=decision.fallback, status=status
        ):
            self.metrics.observe_fallback(
                route=decision.route_name, from_upstream=name, to_upstream=decision.fallback
            )
            name = decision.fallback
            answer, failure = await self.attempt(name, upstreams, method, head)
        if answer is None:
            assert failure is not None
            raise failure_error(failure)
        return name, answer
