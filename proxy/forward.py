"""Sending a request upstream: the upstream client, and the retry and fallback rules.

The client is :class:`proxy.raw_client.RawUpstreams` (raw protocols + httptools): the proxy's
throughput is bounded by its upstream client, and aiohttp's client was 35-41% of the proxy's
CPU (docs/proxy-hot-path.md). Earlier, aiohttp's client had been chosen over httpx (10-21x on
one core, ``bench/upstream_client.py``).

Bodies are buffered (the proxy's request limit is small, responses are JSON, and the shadow
comparison needs the whole body anyway). Responses are passed on exactly as received:
no redirects followed, no decompression, no cookie jar.
"""

from __future__ import annotations

from proxy.raw_client import FailureKind, RawUpstreams, UpstreamFailure, UpstreamResponse

__all__ = [
    "IDEMPOTENT",
    "RETRYABLE_FAILURES",
    "RETRYABLE_METHODS",
    "RETRYABLE_STATUSES",
    "FailureKind",
    "UpstreamFailure",
    "UpstreamPool",
    "UpstreamResponse",
    "should_fall_back",
    "should_retry",
]

IDEMPOTENT = frozenset({"GET", "HEAD"})
#: One keep-alive pool per (url, timeout), rebuilt only when an upstream changes.
UpstreamPool = RawUpstreams


#: Methods retried on the same upstream: idempotent by RFC 9110 §9.2.2 (sending one twice has
#: the effect of sending it once). POST and PATCH never are.
RETRYABLE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
#: Answers that say "the gateway's upstream failed", not "your request is wrong".
RETRYABLE_STATUSES = frozenset({502, 503, 504})
#: Failures retried: the connection failed or dropped before an answer. A timeout is not
#: retried (the upstream may still be working on it, and it would double the wait).
RETRYABLE_FAILURES = frozenset({"connect", "protocol"})


def should_retry(method: str, *, failure: FailureKind | None, status: int | None) -> bool:
    if method not in RETRYABLE_METHODS:
        return False
    if status is not None:
        return status in RETRYABLE_STATUSES
    return failure in RETRYABLE_FAILURES


def should_fall_back(method: str, *, fallback: str | None, status: int | None) -> bool:
    """Retry once on the fallback? Only idempotent requests, only when the target failed
    (no answer, or a 5xx). A write is never sent twice."""
    if fallback is None or method not in IDEMPOTENT:
        return False
    return status is None or status >= 500
