"""Retries under budget, fallback and circuit breakers around upstream calls, and the rules
that say when a request may be sent again.

A request whose first answer is final (:func:`is_final`) is answered by the listener in a
callback and never comes here; a retryable answer, a failure or an open circuit does, and pays a
task.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from proxy.config import IDEMPOTENT_METHODS, Upstream
from proxy.metrics import ProxyMetrics
from proxy.resilience import Breakers, RetryBudgets
from proxy.routing import Decision
from proxy.upstream_client import (
    FailureKind,
    UpstreamFailure,
    UpstreamResponse,
    UpstreamTransport,
)
from proxy.wire import ProxyError

#: Methods that may reach a second upstream as they are (a fallback, or a shadow copy without a
#: dry run): reads. The second upstream keeps its own database, so a write sent there as well
#: would be applied on both sides.
READ_METHODS = frozenset({"GET", "HEAD"})
#: Answers that say "the gateway's upstream failed", not "your request is wrong".
RETRYABLE_STATUSES = frozenset({502, 503, 504})
#: Failures retried: the connection failed or dropped before an answer. A timeout is not
#: retried (the upstream may still be working on it, and it would double the wait).
RETRYABLE_FAILURES: frozenset[FailureKind] = frozenset({"connect", "protocol"})


def should_retry(method: str, *, failure: FailureKind | None, status: int | None) -> bool:
    """Send the request to the same upstream again? Only an idempotent method (sending it twice
    has the effect of sending it once), only after a gateway error or a lost connection."""
    if method not in IDEMPOTENT_METHODS:
        return False
    if status is not None:
        return status in RETRYABLE_STATUSES
    return failure in RETRYABLE_FAILURES


def may_fall_back(method: str, fallback: str | None) -> bool:
    """Could this request go to ``fallback`` instead of its target? Only a read, only when the
    route names a fallback."""
    return fallback is not None and method in READ_METHODS


def should_fall_back(method: str, *, fallback: str | None, status: int | None) -> bool:
    """Send the request to the fallback now? When it may (:func:`may_fall_back`) and the
    target gave no answer (``status`` None) or a 5xx."""
    return may_fall_back(method, fallback) and (status is None or status >= 500)


def is_final(method: str, *, fallback: str | None, status: int) -> bool:
    """Is this first answer the client's, with no retry or fallback to try? Every answer below
    500 is."""
    return status < 500 or not (
        should_retry(method, failure=None, status=status)
        or should_fall_back(method, fallback=fallback, status=status)
    )


#: The outcome of one call: an answer, or the failure that stood for one.
Outcome = tuple[UpstreamResponse | None, UpstreamFailure | None]


def failure_error(failure: UpstreamFailure) -> ProxyError:
    if failure.kind == "timeout":
        return ProxyError(504, "gateway_timeout", f"Upstream {failure.detail}.")
    if failure.kind == "breaker_open":
        return ProxyError(
            503,
            "service_unavailable",
            f"Upstream {failure.upstream}: circuit is open.",
            unreached=True,
        )
    return ProxyError(
        502,
        "bad_gateway",
        f"Upstream {failure.upstream}: {failure.detail}.",
        unreached=failure.kind == "connect",
    )


@dataclass
class Forwarder:
    pool: UpstreamTransport
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
        is retryable (:func:`should_retry`), its circuit is closed and its retry
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
        """Is the primary skipped (a read with a fallback, circuit not closed)?
        Only then may the breaker be asked (``allow`` takes the half-open probe)."""
        if not may_fall_back(method, decision.fallback):
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
        """The primary upstream's answer, or the fallback's for a read (:func:`may_fall_back`)
        when the primary gave none, gave a 5xx, or its circuit is open. ProxyError when nobody
        answered."""
        name = decision.primary
        assert name is not None
        answer: UpstreamResponse | None = None
        failure: UpstreamFailure | None = None
        breaker = self.breakers.get(name)
        if (
            first is None
            and may_fall_back(method, decision.fallback)
            and breaker is not None
            and not breaker.allow()
        ):
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
