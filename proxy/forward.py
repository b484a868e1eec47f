"""Sending a request upstream: one pooled aiohttp client per upstream, and the fallback rule.

Why aiohttp's client and not httpx: the proxy's throughput is bounded by its upstream client, and
on one core of this machine a minimal proxy on aiohttp's client served 10-21x what the same proxy
on ``httpx.AsyncClient`` did, and about 2x httpx over the aiohttp transport
(``bench/upstream_client.py``; figures in ``bench/README.md``).

Bodies are buffered (the proxy's request limit is small, responses are JSON, and the shadow
comparison needs the whole body anyway). Responses are passed on exactly as received:
no redirects followed, no decompression, no cookie jar.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from proxy.config import Upstream

FailureKind = Literal["connect", "timeout", "protocol", "breaker_open"]
IDEMPOTENT = frozenset({"GET", "HEAD"})
#: How long a client for an upstream that left the route table stays open for in-flight calls.
_RETIRE_AFTER_S = 310.0
#: Idle keep-alive connections are closed by us before the upstream closes them (gunicorn's
#: default keep-alive is 2 s, uvicorn's 5 s): a write sent on a connection the server is just
#: closing fails and is never retried. (aiohttp itself retries GET/HEAD/PUT/DELETE once when a
#: *reused* connection turns out closed, as RFC 9112 §9.3.1 allows; POST and PATCH never.)
_KEEPALIVE_S = 1.0


@dataclass(frozen=True, slots=True)
class UpstreamResponse:
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes


class UpstreamFailure(Exception):
    """The upstream gave no HTTP answer: it could not be reached, timed out, broke protocol, or
    was not tried because its circuit breaker is open."""

    def __init__(self, upstream: str, kind: FailureKind, detail: str) -> None:
        super().__init__(f"{upstream}: {detail}")
        self.upstream = upstream
        self.kind = kind
        self.detail = detail


def _client_key(upstream: Upstream) -> tuple[str, float]:
    return upstream.url, upstream.timeout_s


class UpstreamPool:
    """One keep-alive connection pool per (url, timeout); rebuilt only when an upstream changes."""

    def __init__(self, *, connections_per_upstream: int = 256) -> None:
        self._limit = connections_per_upstream
        self._clients: dict[tuple[str, float], aiohttp.ClientSession] = {}
        self._retiring: set[asyncio.Task[None]] = set()

    def _new_client(self, upstream: Upstream) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(
                limit=self._limit, ttl_dns_cache=60, keepalive_timeout=_KEEPALIVE_S
            ),
            timeout=aiohttp.ClientTimeout(total=upstream.timeout_s),
            auto_decompress=False,
            cookie_jar=aiohttp.DummyCookieJar(),
            # Send only what the client sent: no default User-Agent/Accept/Content-Type.
            skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
            raise_for_status=False,
        )

    def sync(self, upstreams: Mapping[str, Upstream]) -> None:
        """Make sure every upstream has a client; retire clients no upstream uses any more."""
        wanted = {_client_key(u): u for u in upstreams.values()}
        for key, upstream in wanted.items():
            if key not in self._clients:
                self._clients[key] = self._new_client(upstream)
        for key in [k for k in self._clients if k not in wanted]:
            task = asyncio.get_running_loop().create_task(self._retire(self._clients.pop(key)))
            self._retiring.add(task)
            task.add_done_callback(self._retiring.discard)

    @staticmethod
    async def _retire(client: aiohttp.ClientSession) -> None:
        await asyncio.sleep(_RETIRE_AFTER_S)
        await client.close()

    async def close(self) -> None:
        for task in list(self._retiring):
            task.cancel()
        for client in self._clients.values():
            await client.close()
        self._clients.clear()

    async def send(
        self,
        name: str,
        upstream: Upstream,
        method: str,
        path_qs: str,
        headers: CIMultiDict[str],
        body: bytes,
    ) -> UpstreamResponse:
        """One HTTP exchange with ``upstream``; :class:`UpstreamFailure` when there is no answer."""
        client = self._clients.get(_client_key(upstream))
        if client is None:  # a table swapped in without sync(): never expected, but be correct
            client = self._clients[_client_key(upstream)] = self._new_client(upstream)
        url = URL(upstream.url + path_qs, encoded=True)
        try:
            async with client.request(
                method,
                url,
                headers=headers,
                data=body if body or method not in IDEMPOTENT else None,
                allow_redirects=False,
            ) as resp:
                payload = await resp.read()
                return UpstreamResponse(resp.status, resp.headers, payload)
        except TimeoutError as err:
            raise UpstreamFailure(
                name, "timeout", f"no answer within {upstream.timeout_s:g}s"
            ) from err
        except aiohttp.ClientConnectorError as err:
            raise UpstreamFailure(name, "connect", f"cannot connect: {err.os_error}") from err
        except aiohttp.ClientError as err:
            raise UpstreamFailure(name, "protocol", f"{type(err).__name__}: {err}") from err


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
