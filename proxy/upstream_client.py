"""The upstream side: keep-alive pools of ``asyncio.Protocol`` connections to the upstreams
that parse answers with httptools (llhttp), behind the :class:`UpstreamTransport` seam.

An exchange is one ``writelines`` of a pre-built head and a chain of parser callbacks: no task,
future or timer per call (the per-request cost of a general-purpose client is what this module
avoids; docs/proxy-hot-path.md). Timeouts are enforced by one sweep per pool (:data:`SWEEP_S`),
not a timer per request.

Two ways in: :meth:`UpstreamTransport.exchange` calls back a *sink* (the listener's fast path,
no task), and :meth:`UpstreamTransport.request` awaits the answer (retries and fallbacks, the
shadow process).

Answers are buffered whole (responses are JSON; the shadow comparison needs the body anyway).
What is kept of a client's correctness: Content-Length, chunked and close-delimited bodies;
HEAD answers without a body (httptools cannot be told a request was HEAD: its parser is
replaced after the head, correct because an upstream connection carries one exchange at a
time); 1xx answers skipped; idle connections closed after :data:`KEEPALIVE_S` (before the
upstream's own keep-alive ends: gunicorn's is 2 s); an idempotent request whose *reused*
connection closed before any byte of an answer is sent once more on a fresh connection
(RFC 9112 §9.3.1); at most ``connections_per_upstream`` connections per upstream, callers
beyond that wait for one.
"""

from __future__ import annotations

import asyncio
import socket
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Mapping
from typing import Literal

import httptools
from multidict import CIMultiDict, CIMultiDictProxy

from proxy.config import IDEMPOTENT_METHODS, Upstream

FailureKind = Literal["connect", "timeout", "protocol", "breaker_open"]

#: Idle keep-alive connections are closed by us before the upstream closes them (gunicorn's
#: default keep-alive is 2 s, uvicorn's 5 s): a write sent on a connection the server is just
#: closing fails, and a write is never retried.
KEEPALIVE_S = 1.0
#: How long a pool for an upstream that left the route table stays open for in-flight calls.
RETIRE_AFTER_S = 310.0
#: Granularity of upstream timeouts (they are seconds long: 2-5 s in route files).
SWEEP_S = 0.1


class UpstreamResponse:
    """An upstream's answer: status, headers as received (bytes), whole body. ``headers`` is a
    case-insensitive ``str`` view built on first use (only the shadow process's comparison asks
    for it)."""

    __slots__ = ("_headers", "body", "raw_headers", "reason", "status")

    def __init__(
        self,
        status: int,
        raw_headers: list[tuple[bytes, bytes]],
        body: bytes,
        reason: bytes = b"",
    ) -> None:
        self.status = status
        self.raw_headers = raw_headers
        self.body = body
        self.reason = reason
        self._headers: CIMultiDictProxy[str] | None = None

    @property
    def headers(self) -> CIMultiDictProxy[str]:
        if self._headers is None:
            self._headers = CIMultiDictProxy(
                CIMultiDict((n.decode("latin-1"), v.decode("latin-1")) for n, v in self.raw_headers)
            )
        return self._headers

    def __repr__(self) -> str:
        return (
            f"UpstreamResponse({self.status}, {len(self.raw_headers)} headers, {len(self.body)} B)"
        )


class UpstreamFailure(Exception):
    """The upstream gave no HTTP answer: it could not be reached, timed out, broke protocol, or
    was not tried because its circuit breaker is open."""

    def __init__(self, upstream: str, kind: FailureKind, detail: str) -> None:
        super().__init__(f"{upstream}: {detail}")
        self.upstream = upstream
        self.kind = kind
        self.detail = detail


#: Called exactly once per exchange: (answer, None) or (None, failure).
Sink = Callable[[UpstreamResponse | None, UpstreamFailure | None], None]


class _Call:
    """One exchange in flight (kept for a resend on a fresh connection)."""

    __slots__ = ("deadline", "head", "is_head", "method", "name", "resent", "sink")

    def __init__(
        self, name: str, method: str, head: list[bytes], sink: Sink, deadline: float
    ) -> None:
        self.name = name
        self.method = method
        self.is_head = method == "HEAD"
        self.head = head
        self.sink = sink
        self.deadline = deadline
        self.resent = False


class _Target:
    """The connections to one upstream (url, timeout)."""

    def __init__(self, upstream: Upstream, limit: int) -> None:
        rest = upstream.url.split("://", 1)[-1].rstrip("/")
        host, _, port = rest.rpartition(":")
        if not host:
            host, port = rest, "80"
        self.host = host.strip("[]")
        self.port = int(port)
        self.host_header = rest.encode()
        self.timeout_s = upstream.timeout_s
        self.limit = limit
        self.idle: list[_Connection] = []
        self.connections = 0  # open or opening
        self.waiters: deque[_Call] = deque()
        self.retired_at = 0.0


class _Connection(asyncio.Protocol):
    """One keep-alive connection to an upstream; carries one exchange at a time."""

    def __init__(self, pool: UpstreamClient, target: _Target) -> None:
        self.pool = pool
        self.target = target
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.call: _Call | None = None
        self.reused = False
        self.got_bytes = False
        self.idle_since = 0.0
        self.status = 0
        self.reason = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []
        self.head_done = False
        self.close_delimited = False
        self.counted = True  # in target.connections until connection_lost

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def connection_lost(self, exc: BaseException | None) -> None:
        self.transport = None
        target = self.target
        if self.counted:
            self.counted = False
            target.connections -= 1
        if self in target.idle:
            target.idle.remove(self)
        if self.call is not None:
            if self.head_done and self.close_delimited:
                self._complete(keep_alive=False)  # the close ends the body
            else:
                self._fail("protocol", f"connection closed before an answer ({exc or 'EOF'})")
        self.pool._connection_freed(target)

    def data_received(self, data: bytes) -> None:
        if self.call is None:  # bytes nobody asked for: the connection is not reusable
            if self.transport is not None:
                self.transport.close()
            return
        self.got_bytes = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as err:
            if self.call is not None:
                self._fail("protocol", f"malformed answer: {err}")
            if self.transport is not None:
                self.transport.close()

    def eof_received(self) -> bool | None:
        return None  # close our side too: connection_lost ends a close-delimited body

    # httptools callbacks
    def on_status(self, reason: bytes) -> None:
        self.reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        parser = self.parser
        self.status = status = parser.get_status_code()
        if status < 200:
            return  # an interim answer: its message completes at once, then the real one
        self.head_done = True
        call = self.call
        if call is not None and call.is_head:
            keep = parser.should_keep_alive()
            self.parser = httptools.HttpResponseParser(self)
            self._complete(keep_alive=keep)
            return
        if status in (204, 304):
            return
        chunked = False
        for name, _ in self.headers:
            lower = name.lower()
            if lower == b"content-length":
                return
            if lower == b"transfer-encoding":
                chunked = True
        self.close_delimited = not chunked

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        if self.call is None:
            return  # a HEAD answer, completed at its head
        if self.status < 200:
            self.headers, self.reason = [], b""
            return
        self._complete(keep_alive=self.parser.should_keep_alive() and not self.close_delimited)

    # the exchange
    def start(self, call: _Call) -> None:
        assert self.transport is not None
        self.call = call
        self.got_bytes = self.head_done = self.close_delimited = False
        self.status = 0
        self.reason = b""
        self.headers = []
        self.body = []
        self.pool._busy.add(self)
        self.transport.writelines(call.head)

    def _detach(self) -> _Call:
        call = self.call
        assert call is not None
        self.call = None
        self.pool._busy.discard(self)
        return call

    def _complete(self, *, keep_alive: bool) -> None:
        call = self._detach()
        body = self.body
        answer = UpstreamResponse(
            self.status,
            self.headers,
            body[0] if len(body) == 1 else b"".join(body),
            self.reason,
        )
        self.headers, self.body = [], []
        transport = self.transport
        if keep_alive and transport is not None and not transport.is_closing():
            self.reused = True
            self.pool._release(self)
        elif transport is not None:
            transport.close()
        call.sink(answer, None)

    def _fail(self, kind: FailureKind, detail: str) -> None:
        call = self._detach()
        if self.transport is not None:
            self.transport.close()
        if (
            kind == "protocol"
            and self.reused
            and not self.got_bytes
            and not call.resent
            and call.method in IDEMPOTENT_METHODS
        ):
            call.resent = True  # a keep-alive connection the upstream had just closed
            self.pool._connect(self.target, call)
            return
        call.sink(None, UpstreamFailure(call.name, kind, detail))

    def expire(self) -> None:
        call = self.call
        if call is not None:
            self._fail("timeout", f"no answer within {self.target.timeout_s:g}s")


def _key(upstream: Upstream) -> tuple[str, float]:
    return upstream.url, upstream.timeout_s


class UpstreamTransport(ABC):
    """The upstream side as the listener and the forwarder use it: send a request head, get an
    answer or a failure. :class:`UpstreamClient` is the real one; a test passes its own (as
    httpx's ``MockTransport`` stands in for a ``BaseTransport``)."""

    @abstractmethod
    def host_header(self, upstream: Upstream) -> bytes:
        """The ``Host`` a request to ``upstream`` carries when the client sent none."""

    @abstractmethod
    def exchange(
        self, name: str, upstream: Upstream, method: str, head: list[bytes], sink: Sink
    ) -> None:
        """Send ``head`` (request line, headers, blank line, body) to ``upstream``; ``sink`` is
        called exactly once, later, with the answer or the failure."""

    async def request(
        self, name: str, upstream: Upstream, method: str, head: list[bytes]
    ) -> UpstreamResponse:
        """:meth:`exchange`, awaited: the answer, or :class:`UpstreamFailure`."""
        future: asyncio.Future[UpstreamResponse] = asyncio.get_running_loop().create_future()

        def sink(answer: UpstreamResponse | None, failure: UpstreamFailure | None) -> None:
            if future.done():
                return
            if answer is not None:
                future.set_result(answer)
            else:
                future.set_exception(failure or UpstreamFailure(name, "protocol", "no answer"))

        self.exchange(name, upstream, method, head, sink)
        return await future


class UpstreamClient(UpstreamTransport):
    """One keep-alive pool per (url, timeout); a pool whose upstream left the route table is
    closed :data:`RETIRE_AFTER_S` later (its in-flight calls finish first)."""

    def __init__(self, connections_per_upstream: int = 256) -> None:
        self._limit = connections_per_upstream
        self._targets: dict[tuple[str, float], _Target] = {}
        self._retiring: list[_Target] = []
        self._busy: set[_Connection] = set()
        self._connecting: set[asyncio.Task[None]] = set()
        self._sweeper: asyncio.Task[None] | None = None
        self._closed = False

    def sync(self, upstreams: Mapping[str, Upstream]) -> None:
        wanted = {_key(u): u for u in upstreams.values()}
        for key, upstream in wanted.items():
            if key not in self._targets:
                self._targets[key] = _Target(upstream, self._limit)
        now = time.monotonic()
        for key in [k for k in self._targets if k not in wanted]:
            target = self._targets.pop(key)
            target.retired_at = now
            self._retiring.append(target)

    def target(self, upstream: Upstream) -> _Target:
        target = self._targets.get(_key(upstream))
        if target is None:  # a table swapped in without sync(): never expected, but be correct
            target = self._targets[_key(upstream)] = _Target(upstream, self._limit)
        return target

    def host_header(self, upstream: Upstream) -> bytes:
        return self.target(upstream).host_header

    def exchange(
        self, name: str, upstream: Upstream, method: str, head: list[bytes], sink: Sink
    ) -> None:
        """See :meth:`UpstreamTransport.exchange`; a failure to connect is reported from the
        connecting task, so never before this returns."""
        if self._sweeper is None:
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep())
        target = self.target(upstream)
        call = _Call(name, method, head, sink, time.monotonic() + target.timeout_s)
        idle = target.idle
        while idle:
            conn = idle.pop()
            transport = conn.transport
            if transport is not None and not transport.is_closing():
                conn.start(call)
                return
        if target.connections >= target.limit:
            target.waiters.append(call)
            return
        self._connect(target, call)

    # connections
    def _connect(self, target: _Target, call: _Call) -> None:
        target.connections += 1
        task = asyncio.get_running_loop().create_task(self._open(target, call))
        self._connecting.add(task)
        task.add_done_callback(self._connecting.discard)

    async def _open(self, target: _Target, call: _Call) -> None:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(max(0.001, call.deadline - time.monotonic())):
                _, conn = await loop.create_connection(
                    lambda: _Connection(self, target), target.host, target.port
                )
        except TimeoutError:
            target.connections -= 1
            call.sink(
                None,
                UpstreamFailure(call.name, "timeout", f"no answer within {target.timeout_s:g}s"),
            )
            self._connection_freed(target)
            return
        except OSError as err:
            target.connections -= 1
            call.sink(None, UpstreamFailure(call.name, "connect", f"cannot connect: {err}"))
            self._connection_freed(target)
            return
        if self._closed:
            conn.transport.close() if conn.transport is not None else None
            call.sink(None, UpstreamFailure(call.name, "connect", "the proxy is stopping"))
            return
        conn.start(call)

    def _release(self, conn: _Connection) -> None:
        """An exchange ended on a reusable connection: the next waiter, or the idle list."""
        target = conn.target
        if target.waiters:
            conn.start(target.waiters.popleft())
            return
        conn.idle_since = time.monotonic()
        target.idle.append(conn)

    def _connection_freed(self, target: _Target) -> None:
        if target.waiters and target.connections < target.limit:
            self._connect(target, target.waiters.popleft())

    async def _sweep(self) -> None:
        """Upstream timeouts every :data:`SWEEP_S`; idle and retired connections closed."""
        ticks = 0
        while True:
            await asyncio.sleep(SWEEP_S)
            now = time.monotonic()
            for conn in [c for c in self._busy if c.call is not None and now > c.call.deadline]:
                conn.expire()
            for target in self._targets.values():
                for waiter in [w for w in target.waiters if now > w.deadline]:
                    target.waiters.remove(waiter)
                    waiter.sink(
                        None,
                        UpstreamFailure(
                            waiter.name, "timeout", f"no connection within {target.timeout_s:g}s"
                        ),
                    )
            ticks += 1
            if ticks % 5:
                continue
            for target in [*self._targets.values(), *self._retiring]:
                for conn in [c for c in target.idle if now - c.idle_since > KEEPALIVE_S]:
                    target.idle.remove(conn)
                    if conn.transport is not None:
                        conn.transport.close()
            for target in [t for t in self._retiring if now - t.retired_at > RETIRE_AFTER_S]:
                self._retiring.remove(target)
                for conn in target.idle:
                    if conn.transport is not None:
                        conn.transport.close()
                target.idle.clear()

    async def close(self) -> None:
        self._closed = True
        if self._sweeper is not None:
            self._sweeper.cancel()
        for task in list(self._connecting):
            task.cancel()
        for target in [*self._targets.values(), *self._retiring]:
            for conn in target.idle:
                if conn.transport is not None:
                    conn.transport.close()
            target.idle.clear()
        for conn in list(self._busy):
            if conn.transport is not None:
                conn.transport.close()
        self._targets.clear()
        self._retiring.clear()
