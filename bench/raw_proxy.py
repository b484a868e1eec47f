"""How fast can a forwarding proxy be in Python on this stack? A prototype of the raw hot path.

Not the proxy (``proxy/`` is): a measured answer to "what would the hot path cost without
aiohttp", for ``docs/proxy-hot-path.md``. uvloop; one :class:`ClientConnection`
(``asyncio.Protocol`` + ``httptools.HttpRequestParser``) per client connection; per upstream a
keep-alive pool of :class:`UpstreamConnection` (``asyncio.Protocol`` +
``httptools.HttpResponseParser``). No task, future or timer is created per request: a request
is a chain of protocol callbacks, and timeouts are enforced by one sweep per second.

What it keeps of a proxy's correctness:

* framing: a request body arrives by Content-Length or chunked, and is sent upstream with a
  Content-Length; ``Transfer-Encoding`` other than a single ``chunked`` on HTTP/1.1 is refused
  (400, connection closed). A response body is passed on as the parser hands it over (no join,
  no copy of ours): with the upstream's Content-Length when it sent one, else re-chunked; a
  body delimited by the connection's close is passed on and the client's connection closed;
  HEAD, 204 and 304 answers have no body;
* keep-alive both ways (HTTP/1.0 and ``Connection: close`` honoured), pipelined requests
  answered in order; backpressure (a client that does not read pauses the reading of its
  upstream answer); ``Expect: 100-continue`` answered by us (the body is buffered here) and not
  forwarded;
* hop-by-hop headers (and those ``Connection`` names) dropped both ways; the client's
  ``X-Forwarded-*``, ``Forwarded`` and ``X-Strangler-*`` replaced by ours;
  ``X-Request-Id`` kept when sane, else new; a new ``traceparent`` span; ``X-Strangler-*``
  answer headers; per-route/status counters in plain ints (what a Prometheus collector would
  read at scrape time);
* head limits (431 over ``MAX_HEADERS`` lines or ``MAX_HEADER_BYTES`` per line), a head-read
  deadline (408), an upstream timeout (504), a request body limit (413), 502 when the upstream
  cannot be reached, one retry on a fresh connection for an idempotent request whose reused
  connection closed before any answer;
* a routing stub (:func:`decide`): ambiguous paths refused, ``/internal/`` not forwarded, one
  prefix table - where ``proxy.routing.Router.decide`` would be called.

Run: ``python -m bench.raw_proxy --listen 127.0.0.1:8080 --upstream http://127.0.0.1:8000
[--workers N]`` (N > 1: N processes share the port with SO_REUSEPORT).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import secrets
import signal
import socket
import time
from collections import Counter, deque
from dataclasses import dataclass, field

import httptools
import uvloop

HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"content-length",  # re-framed by us
    }
)
MAX_HEADERS = 100
MAX_HEADER_BYTES = 8190
MAX_BODY_BYTES = 1 << 20
HEAD_TIMEOUT_S = 10.0
UPSTREAM_TIMEOUT_S = 5.0
#: Idle upstream connections are closed by us before the upstream closes them.
UPSTREAM_KEEPALIVE_S = 1.0
CLIENT_KEEPALIVE_S = 75.0
IDEMPOTENT = frozenset({b"GET", b"HEAD", b"OPTIONS", b"PUT", b"DELETE"})

_AMBIGUOUS = re.compile(rb"%(2[fF]|5[cC]|00)|\\|(^|/)\.\.?(;[^/]*)?(/|$)")
_SANE_ID = re.compile(rb"^[A-Za-z0-9._:@/+=-]{1,128}$")


def _error(status: int, reason: bytes, code: str, detail: str, *, close: bool) -> bytes:
    body = f'{{"error": "{code}", "detail": "{detail}"}}'.encode()
    return b"".join(
        [
            b"HTTP/1.1 %d %s\r\n" % (status, reason),
            b"Content-Type: application/json\r\nX-Strangler-Upstream: -\r\n",
            b"Connection: close\r\n" if close else b"",
            b"Content-Length: %d\r\n\r\n" % len(body),
            body,
        ]
    )


@dataclass(slots=True)
class Upstream:
    name: str
    host: str
    port: int
    host_header: bytes
    idle: list[UpstreamConnection] = field(default_factory=list)


@dataclass(slots=True)
class Route:
    name: bytes
    prefix: bytes
    upstream: Upstream


@dataclass(slots=True)
class Table:
    routes: list[Route]
    default: Upstream


@dataclass(slots=True)
class Request:
    method: bytes
    target: bytes
    headers: list[tuple[bytes, bytes]]
    body: list[bytes]
    keep_alive: bool
    version: bytes
    request_id: bytes = b""
    route: bytes = b"-"
    retried: bool = False


#: Counters a Prometheus collector would export at scrape time: (route, upstream, class) -> n.
COUNTS: Counter[tuple[bytes, str, int]] = Counter()


def decide(table: Table, method: bytes, target: bytes) -> tuple[bytes, Upstream | None]:
    """The routing stub: (route name, upstream); no upstream = answered 404 by the proxy."""
    path = target.split(b"?", 1)[0]
    if path.startswith(b"/internal/"):
        return b"-", None
    for route in table.routes:
        if path.startswith(route.prefix):
            return route.name, route.upstream
    return b"-", table.default


class ClientConnection(asyncio.Protocol):
    """One client connection: parse requests, answer them in order."""

    def __init__(self, server: RawProxy) -> None:
        self.server = server
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.peer = b"unknown"
        self.pending: deque[Request] = deque()
        self.busy = False
        self.closing = False
        self.head_started = 0.0  # when the current head's first byte came (0: not in a head)
        self.last_active = time.monotonic()
        # the request being parsed
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []
        self.body_size = 0
        self.refused: bytes | None = None
        self.upstream: UpstreamConnection | None = None  # carrying the current exchange
        self.paused = False  # our write buffer is full: the upstream is not read meanwhile

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername")
        self.peer = peer[0].encode() if peer else b"unknown"
        self.server.clients.add(self)

    def connection_lost(self, exc: BaseException | None) -> None:
        self.closing = True
        self.transport = None
        self.server.clients.discard(self)
        self.resume_writing()  # nothing more will be written: let the upstream answer drain

    def pause_writing(self) -> None:
        """Backpressure: a slow client stops the upstream's answer, not our memory."""
        self.paused = True
        if self.upstream is not None:
            self.upstream.pause()

    def resume_writing(self) -> None:
        self.paused = False
        if self.upstream is not None:
            self.upstream.resume()

    def data_received(self, data: bytes) -> None:
        if self.closing:
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self.refuse(400, b"Bad Request", "malformed_request", "Upgrade is not served.")
        except httptools.HttpParserError:
            if self.refused is None:
                self.refuse(400, b"Bad Request", "malformed_request", "Malformed request.")
        if self.refused is not None:
            self.refuse_now()

    # httptools callbacks
    def on_message_begin(self) -> None:
        self.url = b""
        self.headers = []
        self.body = []
        self.body_size = 0
        self.head_started = time.monotonic()  # the head's first byte: its deadline starts

    def on_url(self, url: bytes) -> None:
        self.url += url
        if len(self.url) > MAX_HEADER_BYTES:
            self.refused = _error(
                431,
                b"Request Header Fields Too Large",
                "headers_too_large",
                "Head too large.",
                close=True,
            )
            raise httptools.HttpParserError("request line too long")

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))
        if len(self.headers) > MAX_HEADERS or len(name) + len(value) > MAX_HEADER_BYTES:
            self.refused = _error(
                431,
                b"Request Header Fields Too Large",
                "headers_too_large",
                "Head too large.",
                close=True,
            )
            raise httptools.HttpParserError("head over the limits")

    def on_headers_complete(self) -> None:
        self.head_started = 0.0
        version = self.parser.get_http_version()
        codings = [v for n, v in self.headers if n.lower() == b"transfer-encoding"]
        if codings and (
            version != "1.1" or len(codings) != 1 or codings[0].strip().lower() != b"chunked"
        ):
            self.refused = _error(
                400,
                b"Bad Request",
                "malformed_request",
                "Transfer-Encoding other than chunked refused.",
                close=True,
            )
            raise httptools.HttpParserError("framing refused")
        expect = [v for n, v in self.headers if n.lower() == b"expect"]
        # The body is read here, not upstream (Expect is not forwarded): say "send it".
        if (
            expect
            and expect[0].strip().lower() == b"100-continue"
            and version == "1.1"
            and not self.busy
            and self.transport is not None
        ):
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        self.body_size += len(body)
        if self.body_size > MAX_BODY_BYTES:
            self.refused = _error(
                413,
                b"Payload Too Large",
                "payload_too_large",
                "Request body too large.",
                close=True,
            )
            raise httptools.HttpParserError("body over the limit")
        self.body.append(body)

    def on_message_complete(self) -> None:
        parser = self.parser
        request = Request(
            parser.get_method(),
            self.url,
            self.headers,
            self.body,
            parser.should_keep_alive(),
            parser.get_http_version().encode(),
        )
        if self.busy:
            self.pending.append(request)
            if len(self.pending) > 16 and self.transport is not None:
                self.transport.pause_reading()  # a client pipelining without reading answers
        else:
            self.start(request)

    # the exchange
    def refuse(self, status: int, reason: bytes, code: str, detail: str) -> None:
        self.refused = _error(status, reason, code, detail, close=True)

    def refuse_now(self) -> None:
        """Answer the refusal once the requests before it are answered; then close."""
        if not self.busy and self.transport is not None and self.refused is not None:
            self.transport.write(self.refused)
            self.transport.close()
            self.closing = True

    def start(self, request: Request) -> None:
        self.busy = True
        self.last_active = time.monotonic()
        server = self.server
        if _AMBIGUOUS.search(request.target.split(b"?", 1)[0]) or not request.target.startswith(
            b"/"
        ):
            self.finish_local(
                _error(
                    400, b"Bad Request", "malformed_request", "Ambiguous path refused.", close=False
                ),
                request,
            )
            return
        route, upstream = decide(server.table, request.method, request.target)
        request.route = route
        if upstream is None:
            self.finish_local(
                _error(404, b"Not Found", "not_found", "Not found.", close=False), request
            )
            return
        given = next((v for n, v in request.headers if n.lower() == b"x-request-id"), b"")
        request.request_id = (
            given if given and _SANE_ID.match(given) else os.urandom(16).hex().encode()
        )
        server.send(upstream, self, request, self.upstream_head(request))

    def upstream_head(self, request: Request) -> list[bytes]:
        headers = request.headers
        drop = HOP_BY_HOP
        for name, value in headers:
            if name.lower() == b"connection":
                drop = drop | {t.strip().lower() for t in value.split(b",")}
        out = [request.method, b" ", request.target, b" HTTP/1.1\r\n"]
        host = b""
        for name, value in headers:
            lower = name.lower()
            if lower in drop:
                continue
            if (
                lower.startswith(b"x-forwarded-")
                or lower.startswith(b"x-strangler-")
                or lower in (b"forwarded", b"x-request-id", b"traceparent", b"expect")
            ):
                continue
            if lower == b"host":
                host = value
            out += (name, b": ", value, b"\r\n")
        if host:
            out += (b"X-Forwarded-Host: ", host, b"\r\n")
        out += (
            b"X-Forwarded-For: ",
            self.peer,
            b"\r\nX-Forwarded-Proto: http\r\nX-Request-Id: ",
            request.request_id,
            b"\r\ntraceparent: 00-",
            secrets.token_hex(16).encode(),
            b"-",
            secrets.token_hex(8).encode(),
            b"-01\r\n",
        )
        size = sum(map(len, request.body))
        if size or request.method not in (b"GET", b"HEAD", b"DELETE", b"OPTIONS"):
            out += (b"Content-Length: ", str(size).encode(), b"\r\n")
        out.append(b"\r\n")
        out += request.body  # written with the head, one writelines: no join
        return out

    def finish_local(self, answer: bytes, request: Request) -> None:
        if self.transport is not None:
            self.transport.write(answer)
        COUNTS[(request.route, "-", int(answer[9:10]))] += 1
        self.done(request.keep_alive)

    def done(self, keep_alive: bool) -> None:
        """The answer to the current request is written: next one, or close."""
        self.busy = False
        self.last_active = time.monotonic()
        if self.closing:
            return  # the client went away: its pipelined requests are not sent
        if not keep_alive:
            if self.transport is not None:
                self.transport.close()
            self.closing = True
            return
        if self.refused is not None and not self.pending:
            self.refuse_now()
            return
        if self.pending:
            if self.transport is not None:
                self.transport.resume_reading()
            self.start(self.pending.popleft())


class UpstreamConnection(asyncio.Protocol):
    """One keep-alive connection to an upstream; carries one exchange at a time."""

    def __init__(self, server: RawProxy, upstream: Upstream) -> None:
        self.server = server
        self.upstream = upstream
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.client: ClientConnection | None = None
        self.request: Request | None = None
        self.reused = False
        self.answered = False  # the head of the answer went to the client
        self.started = 0.0
        self.idle_since = 0.0
        self.out: list[bytes] = []
        self.chunked = False
        self.close_delimited = False
        self.reason = b""
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.reading_paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def pause(self) -> None:
        if self.transport is not None and not self.reading_paused:
            self.reading_paused = True
            self.transport.pause_reading()

    def resume(self) -> None:
        if self.transport is not None and self.reading_paused:
            self.reading_paused = False
            self.transport.resume_reading()

    def connection_lost(self, exc: BaseException | None) -> None:
        self.transport = None
        idle = self.upstream.idle
        if self in idle:
            idle.remove(self)
        if self.client is not None and self.request is not None:
            if self.close_delimited and self.answered:
                self.on_message_complete()  # the close ends the body
                return
            self.fail(exc)

    def exchange(self, client: ClientConnection, request: Request, head: list[bytes]) -> None:
        assert self.transport is not None
        self.client, self.request = client, request
        self.answered = self.chunked = self.close_delimited = False
        self.started = time.monotonic()
        self.headers = []
        self.server.busy.add(self)
        client.upstream = self
        if client.paused:
            self.pause()
        self.transport.writelines(head)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            if self.transport is not None:
                self.transport.close()
        if self.out and self.client is not None and self.client.transport is not None:
            self.client.transport.writelines(self.out)
        self.out = []

    def on_status(self, reason: bytes) -> None:
        self.reason = reason

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        request, client = self.request, self.client
        if request is None or client is None:
            return
        self.status = status = self.parser.get_status_code()
        headers = self.headers
        drop = HOP_BY_HOP
        length = b""
        chunked = False
        for name, value in headers:
            lower = name.lower()
            if lower == b"connection":
                drop = drop | {t.strip().lower() for t in value.split(b",")}
            elif lower == b"content-length":
                length = value
            elif lower == b"transfer-encoding":
                chunked = True
        out = self.out
        out += (b"HTTP/1.1 ", str(status).encode(), b" ", self.reason, b"\r\n")
        for name, value in headers:
            if name.lower() not in drop:
                out += (name, b": ", value, b"\r\n")
        out += (
            b"X-Strangler-Upstream: ",
            self.upstream.name.encode(),
            b"\r\nX-Strangler-Route: ",
            request.route,
            b"\r\nX-Request-Id: ",
            request.request_id,
            b"\r\n",
        )
        bodiless = request.method == b"HEAD" or status in (204, 304) or status < 200
        if length:
            out += (b"Content-Length: ", length, b"\r\n")
        elif not bodiless and chunked and request.version == b"1.1":
            self.chunked = True
            out.append(b"Transfer-Encoding: chunked\r\n")
        elif not bodiless:
            # chunked to an HTTP/1.0 client, or delimited by the upstream's close: close ours
            self.close_delimited = not chunked
            request.keep_alive = False
        if not request.keep_alive:
            out.append(b"Connection: close\r\n")
        out.append(b"\r\n")
        self.answered = True
        if request.method == b"HEAD":
            # httptools cannot be told a HEAD answer has no body: end the exchange here, and
            # parse the connection's next answer with a fresh parser.
            keep = self.parser.should_keep_alive()
            self.parser = httptools.HttpResponseParser(self)
            self.complete(keep)

    def on_body(self, body: bytes) -> None:
        if self.request is None or not self.answered:
            return
        if self.chunked:
            self.out += (b"%x\r\n" % len(body), body, b"\r\n")
        else:
            self.out.append(body)

    def on_message_complete(self) -> None:
        if self.request is None:
            return  # the HEAD answer was completed at its head
        if self.chunked:
            self.out.append(b"0\r\n\r\n")
        self.complete(self.parser.should_keep_alive() and not self.close_delimited)

    def complete(self, keep_alive: bool) -> None:
        client, request = self.client, self.request
        assert client is not None and request is not None
        if self.out and client.transport is not None:
            client.transport.writelines(self.out)
        self.out = []
        self.client = self.request = None
        self.server.busy.discard(self)
        client.upstream = None
        self.resume()
        COUNTS[(request.route, self.upstream.name, self.status // 100)] += 1
        if keep_alive and self.transport is not None:
            self.reused = True
            self.idle_since = time.monotonic()
            self.upstream.idle.append(self)
        elif self.transport is not None:
            self.transport.close()
        client.done(request.keep_alive)

    def fail(self, exc: BaseException | None, *, timeout: bool = False) -> None:
        """No (complete) answer: retry once, answer 502/504, or cut the client's connection."""
        client, request = self.client, self.request
        assert client is not None and request is not None
        self.client = self.request = None
        self.server.busy.discard(self)
        client.upstream = None
        self.resume()
        if self.transport is not None:
            self.transport.close()
        if self.answered:  # half an answer went out: the client cannot be told otherwise
            if client.transport is not None:
                client.transport.close()
            client.closing = True
            return
        if self.reused and not timeout and not request.retried and request.method in IDEMPOTENT:
            request.retried = True  # a keep-alive connection the upstream had just closed
            self.server.send(self.upstream, client, request, client.upstream_head(request))
            return
        if timeout:
            answer = _error(
                504,
                b"Gateway Timeout",
                "gateway_timeout",
                f"Upstream {self.upstream.name}: no answer in time.",
                close=False,
            )
        else:
            answer = _error(
                502,
                b"Bad Gateway",
                "bad_gateway",
                f"Upstream {self.upstream.name}: {exc or 'closed'}.",
                close=False,
            )
        client.finish_local(answer, request)


class RawProxy:
    def __init__(self, table: Table) -> None:
        self.table = table
        self.clients: set[ClientConnection] = set()
        self.busy: set[UpstreamConnection] = set()
        self.connecting: set[asyncio.Task[None]] = set()

    def send(
        self, upstream: Upstream, client: ClientConnection, request: Request, head: list[bytes]
    ) -> None:
        idle = upstream.idle
        while idle:
            conn = idle.pop()
            if conn.transport is not None and not conn.transport.is_closing():
                conn.exchange(client, request, head)
                return
        task = asyncio.get_running_loop().create_task(
            self._connect(upstream, client, request, head)
        )
        self.connecting.add(task)
        task.add_done_callback(self.connecting.discard)

    async def _connect(
        self, upstream: Upstream, client: ClientConnection, request: Request, head: list[bytes]
    ) -> None:
        loop = asyncio.get_running_loop()
        try:
            _, conn = await asyncio.wait_for(
                loop.create_connection(
                    lambda: UpstreamConnection(self, upstream), upstream.host, upstream.port
                ),
                UPSTREAM_TIMEOUT_S,
            )
        except (OSError, TimeoutError) as err:
            client.finish_local(
                _error(
                    502,
                    b"Bad Gateway",
                    "bad_gateway",
                    f"Upstream {upstream.name}: cannot connect ({type(err).__name__}).",
                    close=False,
                ),
                request,
            )
            return
        conn.exchange(client, request, head)

    async def sweep(self) -> None:
        """Once a second: head deadlines, idle client and upstream connections, upstream
        timeouts. One timer for the process instead of one per request."""
        while True:
            await asyncio.sleep(1.0)
            now = time.monotonic()
            for client in list(self.clients):
                t = client.transport
                if t is None:
                    continue
                if client.head_started and now - client.head_started > HEAD_TIMEOUT_S:
                    t.write(
                        _error(
                            408,
                            b"Request Timeout",
                            "request_timeout",
                            "The request head was not sent in time.",
                            close=True,
                        )
                    )
                    t.close()
                elif not client.busy and now - client.last_active > CLIENT_KEEPALIVE_S:
                    t.close()
            for upstream in self._upstreams():
                for conn in [c for c in upstream.idle if now - c.idle_since > UPSTREAM_KEEPALIVE_S]:
                    upstream.idle.remove(conn)
                    if conn.transport is not None:
                        conn.transport.close()
            for conn in list(self.busy):
                if now - conn.started > UPSTREAM_TIMEOUT_S:
                    conn.fail(None, timeout=True)

    def _upstreams(self) -> list[Upstream]:
        return [self.table.default, *(r.upstream for r in self.table.routes)]


class _AwaitedExchange(asyncio.Protocol):
    """One keep-alive upstream connection answering through a future: the raw client under an
    ``async`` caller (aiohttp's server), for the hybrid measured by ``bench.profile_proxy``."""

    def __init__(self, pool: RawClientPool) -> None:
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future[tuple[int, list[tuple[bytes, bytes]], bytes]] | None = None
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []
        self.head = False
        self.reused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: BaseException | None) -> None:
        self.transport = None
        if self in self.pool.idle:
            self.pool.idle.remove(self)
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError(f"upstream closed: {exc}"))

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as err:
            if self.waiter is not None and not self.waiter.done():
                self.waiter.set_exception(ConnectionError(f"bad answer: {err}"))
            if self.transport is not None:
                self.transport.close()

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        if self.head:  # no body follows a HEAD answer; httptools cannot be told so
            status, keep = self.parser.get_status_code(), self.parser.should_keep_alive()
            self.parser = httptools.HttpResponseParser(self)
            self._done(keep=keep, status=status)

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        self._done(keep=self.parser.should_keep_alive(), status=self.parser.get_status_code())

    def _done(self, *, keep: bool, status: int) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result((status, self.headers, b"".join(self.body)))
        if keep and self.transport is not None:
            self.reused = True
            self.pool.idle.append(self)
        elif self.transport is not None:
            self.transport.close()


class RawClientPool:
    """A keep-alive pool of raw upstream connections with an ``async`` request call."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.idle: list[_AwaitedExchange] = []

    async def request(
        self, head: list[bytes], *, is_head: bool, timeout_s: float
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """Send ``head`` (request line, headers, blank line, body); the upstream's answer."""
        loop = asyncio.get_running_loop()
        conn = None
        while self.idle:
            candidate = self.idle.pop()
            if candidate.transport is not None and not candidate.transport.is_closing():
                conn = candidate
                break
        if conn is None:
            _, conn = await loop.create_connection(
                lambda: _AwaitedExchange(self), self.host, self.port
            )
        assert conn.transport is not None
        conn.headers, conn.body, conn.head = [], [], is_head
        conn.waiter = loop.create_future()
        conn.transport.writelines(head)
        async with asyncio.timeout(timeout_s):
            return await conn.waiter


def parse_upstream(name: str, url: str) -> Upstream:
    hostport = url.removeprefix("http://").rstrip("/")
    host, _, port = hostport.rpartition(":")
    return Upstream(name, host, int(port), hostport.encode())


async def serve(listen: str, upstream_url: str, *, reuse_port: bool) -> None:
    loop = asyncio.get_running_loop()
    monolith = parse_upstream("monolith", upstream_url)
    proxy = RawProxy(Table(routes=[], default=monolith))
    host, _, port = listen.rpartition(":")
    server = await loop.create_server(
        lambda: ClientConnection(proxy), host, int(port), backlog=2048, reuse_port=reuse_port
    )
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    sweeper = loop.create_task(proxy.sweep())
    async with server:
        await stop.wait()
    sweeper.cancel()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listen", required=True, help="HOST:PORT")
    parser.add_argument("--upstream", required=True, help="http://HOST:PORT")
    parser.add_argument("--workers", type=int, default=1, help="processes sharing the port")
    args = parser.parse_args(argv)
    children: list[int] = []
    for _ in range(args.workers - 1):
        pid = os.fork()
        if pid == 0:
            children = []
            break
        children.append(pid)
    try:
        uvloop.run(serve(args.listen, args.upstream, reuse_port=args.workers > 1))
    finally:
        for pid in children:
            os.kill(pid, signal.SIGTERM)
            os.waitpid(pid, 0)


if __name__ == "__main__":
    main()
