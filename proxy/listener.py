"""The client side: one :class:`ClientConnection` (an ``asyncio.Protocol`` with httptools'
request parser, llhttp in strict mode) per client connection, parsing requests and answering
them in order.

A request is a chain of callbacks - parse, check, route, write upstream
(:meth:`proxy.upstream_client.UpstreamTransport.exchange`), answer - with no task, future or
timer of its own (docs/proxy-hot-path.md says why). Only a request whose first upstream answer
is not final (:func:`proxy.retrying.is_final`: a retry, a fallback, a failure, an open circuit)
drops into a coroutine (:class:`proxy.retrying.Forwarder`).

What the listener guarantees (tests/proxy proves it over real sockets):

* head limits: more than ``max_headers`` header lines, a request line or header line over
  ``max_header_bytes``, or a whole head over ``max_head_bytes`` is answered 431 and the
  connection closed. httptools buffers a header until it is complete, so the bytes of an
  incomplete line are counted as they arrive too. Chunked trailers are held to the same limits
  and dropped: they arrive after every check of the head and must never become headers
  upstream;
* a request head must arrive within ``header_timeout_s`` of its first byte (408 and close;
  checked by one sweep, :data:`SWEEP_S`); an idle keep-alive connection closes after
  :data:`KEEPALIVE_S`;
* framing: HTTP/1.0 and 1.1 only; ``Transfer-Encoding`` only as one ``chunked`` on 1.1;
  llhttp refuses Content-Length with Transfer-Encoding, repeated differing lengths and bare-LF
  heads; bodies over ``max_body_bytes`` are 413; ``Expect: 100-continue`` is answered here
  (the body is read here and sent upstream with a Content-Length), never forwarded;
* CONNECT, TRACE and TRACK are answered here (405), on every route;
* every refusal closes the connection after the answers before it, and nothing parsed behind a
  refusal, or behind a request that said it was the last, is ever sent upstream. A close is
  lingering (:meth:`ClientConnection.close_lingering`): the client's remaining bytes are read
  and dropped, within a bound, so a client that sends before it reads still gets the 413 or
  431 instead of a reset;
* pipelined requests are answered in order; a client that does not read its answers
  (``pause_writing``) is not read from until it does;
* routing, read-your-writes, shadow copies and recordings, request ids and ``traceparent``,
  trusted proxies, header hygiene both ways (client-address headers of every convention
  replaced by ``X-Real-IP``: ``proxy/wire.py``), metrics.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import deque
from dataclasses import dataclass
from random import random

import httptools

from contracts.sync_token import sync_token
from proxy import headers as hdr
from proxy.config import SAFE_METHODS, Upstream
from proxy.internal_callers import internal_dry_run
from proxy.metrics import ProxyMetrics
from proxy.read_your_writes import WriteMemory
from proxy.reload import RouteWatcher
from proxy.retrying import Forwarder, Outcome, is_final
from proxy.routing import Decision, RequestFacts
from proxy.settings import ProxySettings
from proxy.shadow import ShadowJob, ShadowQueue
from proxy.upstream_client import UpstreamFailure, UpstreamResponse, UpstreamTransport
from proxy.wire import (
    ProxyError,
    answer_head,
    check_target,
    error_answer,
    upstream_head,
    with_header,
)

log = logging.getLogger("proxy.listener")

#: How often head deadlines and idle keep-alive connections are checked.
SWEEP_S = 0.25
#: An idle client keep-alive connection is closed after this long.
KEEPALIVE_S = 75.0
#: After a 413, what the client still sends is read and dropped, this much for this long,
#: before the connection is closed (a lingering close).
LINGER_BYTES = 4 * 1024 * 1024
LINGER_S = 2.0
#: Pipelined requests parsed ahead of their answers before the client is not read any more.
MAX_PIPELINED = 16

_SANE_ID = hdr._SANE_REQUEST_ID
_DRY_RUN = hdr.DRY_RUN.encode()
_HEAD_TOO_LARGE = ProxyError(431, "headers_too_large", "Request header fields too large.", True)
_INTERNAL = ProxyError(500, "internal_error", "The proxy failed on this request.", True)
#: Methods no route serves: a tunnel (CONNECT) or a loop-back of the request (TRACE, TRACK)
#: through the façade would bypass everything it checks.
_REFUSED_METHODS = frozenset({"CONNECT", "TRACE", "TRACK"})
_METHOD_REFUSED = ProxyError(
    405, "method_not_allowed", "CONNECT, TRACE and TRACK are not served.", close=True
)
_HEAD_TIMEOUT = ProxyError(
    408, "request_timeout", "The request head was not sent in time.", close=True
)


@dataclass
class Listener:
    """Process-wide state the connections share."""

    settings: ProxySettings
    watcher: RouteWatcher
    pool: UpstreamTransport
    metrics: ProxyMetrics
    shadow: ShadowQueue
    forwarder: Forwarder
    writes: WriteMemory
    trust: hdr.ForwardedTrust

    def __post_init__(self) -> None:
        self.clients: set[ClientConnection] = set()
        self.slow: set[asyncio.Task[None]] = set()
        s = self.settings
        self.max_headers = s.max_headers
        self.max_line = s.max_header_bytes
        self.max_head = s.max_head_bytes
        self.max_body = s.max_body_bytes
        self.head_timeout_s = s.header_timeout_s
        #: The sync token internal callers prove themselves with (proxy/internal_callers.py).
        self.caller_token = sync_token()

    def connection(self) -> ClientConnection:
        return ClientConnection(self)

    def close_clients(self) -> None:
        """Stopping: close every client connection (answers in flight are cut)."""
        for client in list(self.clients):
            if client.transport is not None:
                client.transport.close()

    async def sweep(self) -> None:
        """Head deadlines (408) and idle keep-alive connections: one timer for the process."""
        while True:
            await asyncio.sleep(SWEEP_S)
            now = time.monotonic()
            for client in list(self.clients):
                if client.linger_until:
                    if now > client.linger_until and client.transport is not None:
                        client.transport.close()
                elif client.head_started and now - client.head_started > self.head_timeout_s:
                    log.info(
                        "proxy: closed a connection whose request head took over %gs",
                        self.head_timeout_s,
                    )
                    client.abort(_HEAD_TIMEOUT)
                elif (
                    not client.busy
                    and not client.head_started
                    and now - client.last_active > KEEPALIVE_S
                    and client.transport is not None
                ):
                    client.transport.close()


class Exchange:
    """One request, from its last byte to its answer."""

    __slots__ = (
        "body",
        "client_addr",
        "conn",
        "decision",
        "headers",
        "http10",
        "keep_alive",
        "method",
        "mode",
        "primary",
        "request_id",
        "route",
        "started",
        "target",
        "traceparent",
        "upstream_head",
        "upstreams",
    )

    def __init__(
        self,
        conn: ClientConnection,
        method: str,
        target: bytes,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        keep_alive: bool,
        http10: bool,
        started: float,
    ) -> None:
        self.conn = conn
        self.method = method
        self.target = target
        self.headers = headers
        self.body = body
        self.keep_alive = keep_alive
        self.http10 = http10
        self.started = started
        self.route = "-"
        self.mode = "monolith"
        self.request_id = b""
        self.primary = ""

    def run(self) -> None:
        conn = self.conn
        hot = conn.hot
        view = hdr.HeaderView(self.headers)
        given = view.get(hdr.REQUEST_ID)
        seed = os.urandom(24).hex()
        if given and _SANE_ID.match(given):
            self.request_id = given.encode("latin-1")
        else:
            self.request_id = seed[:32].encode()
        snapshot = hot.watcher.current  # one read: this request uses one table throughout
        try:
            if self.method in _REFUSED_METHODS:
                raise _METHOD_REFUSED
            path = check_target(self.target)
            peer = conn.peer
            self.client_addr = hot.trust.client_address(peer, view) if conn.trusted else peer
            decision = self.decision = snapshot.router.decide(
                RequestFacts(self.method, path, view, self.client_addr), None, hot.writes
            )
            self.route, self.mode = decision.route_name, decision.mode
            name = decision.primary
            if name is None:
                raise ProxyError(404, "not_found", "Not found.")
            if hdr.TRACEPARENT in view:
                self.traceparent = hdr.traceparent(view).encode()
            else:
                self.traceparent = b"00-%s-%s-01" % (seed[:32].encode(), seed[32:].encode())
            upstreams = self.upstreams = snapshot.table.upstreams
            head = self.upstream_head = upstream_head(
                self.method,
                self.target,
                self.headers,
                self.body,
                peer=conn.peer_bytes,
                client_addr=self.client_addr.encode("latin-1"),
                scheme=b"http",
                request_id=self.request_id,
                traceparent=self.traceparent,
                trusted=conn.trusted,
                default_host=hot.pool.host_header(upstreams[name]),
            )
            if self.method not in SAFE_METHODS and internal_dry_run(view, hot.caller_token):
                head = self.upstream_head = with_header(head, _DRY_RUN, b"1")
        except ProxyError as err:
            self.fail(err)
            return
        except Exception:  # a bug must cost one 500, not a hung connection
            log.exception("proxy: %s %r failed before going upstream", self.method, self.target)
            self.fail(_INTERNAL)
            return
        forwarder = hot.forwarder
        if forwarder.must_detour(decision, self.method):
            self.slow(None)
            return
        self.primary = name
        forwarder.budgets.begin(name)
        hot.pool.exchange(name, upstreams[name], self.method, head, self.on_primary)

    def on_primary(self, answer: UpstreamResponse | None, failure: UpstreamFailure | None) -> None:
        """The primary's first answer (a callback: the fast path ends here)."""
        forwarder = self.conn.hot.forwarder
        name = self.primary
        forwarder.record(name, answer, failure)
        if answer is not None:
            # Below 500 an answer is always final: the rule is asked only about the rest.
            status = answer.status
            if status < 500 or is_final(
                self.method, fallback=self.decision.fallback, status=status
            ):
                forwarder.budgets.end(name)
                try:
                    self.answer(name, answer)
                except Exception:  # a bug must cost this request, not the upstream connection
                    log.exception("proxy: answering %s %r failed", self.method, self.target)
                    self.conn.abort(_INTERNAL)
                return
        self.slow((answer, failure))

    def slow(self, first: Outcome | None) -> None:
        task = asyncio.get_running_loop().create_task(self._slow(first))
        slow = self.conn.hot.slow
        slow.add(task)
        task.add_done_callback(slow.discard)

    async def _slow(self, first: Outcome | None) -> None:
        try:
            name, answer = await self.conn.hot.forwarder.forward(
                self.decision, self.upstreams, self.method, self.upstream_head, first
            )
        except ProxyError as err:
            self.fail(err)
            return
        except Exception:
            log.exception("proxy: %s %r failed upstream", self.method, self.target)
            self.fail(_INTERNAL)
            return
        self.answer(name, answer)

    def answer(self, name: str, answer: UpstreamResponse) -> None:
        conn = self.conn
        hot = conn.hot
        decision: Decision = self.decision
        route = decision.route
        status = answer.status
        if route is not None:
            ryw = route.read_your_writes
            if ryw is not None and self.method not in SAFE_METHODS and status < 500:
                assert decision.key is not None
                hot.writes.remember(route.write_group, decision.key, name, ryw.window_s)
            if decision.shadow is not None:
                self.submit_shadow(decision.shadow, self.upstreams[decision.shadow], answer)
            record = route.record
            if record is not None and random() * 100.0 < record.percent:
                hot.shadow.record(
                    route=self.route,
                    keep=record.max_requests,
                    method=self.method,
                    path_qs=self.target.decode("latin-1"),
                    headers=self.headers,
                    body=self.body,
                    status=status,
                )
        keep_alive = self.keep_alive and conn.more_after()
        body = answer.body
        out = answer_head(
            status,
            answer.reason,
            answer.raw_headers,
            len(body),
            upstream=name.encode(),
            route=self.route.encode(),
            request_id=self.request_id,
            keep_alive=keep_alive,
            http10=self.http10,
        )
        if body and self.method != "HEAD":
            out.append(body)
        conn.write(out)
        hot.metrics.observe_request(
            route=self.route,
            upstream=name,
            mode=self.mode,
            status=status,
            seconds=time.monotonic() - self.started,
        )
        conn.done(keep_alive)

    def submit_shadow(self, target_name: str, target: Upstream, answer: UpstreamResponse) -> None:
        """A copy for the shadow process: the head the primary got, and the client's headers."""
        route = self.decision.route
        assert route is not None
        self.conn.hot.shadow.submit(
            ShadowJob(
                route=self.route,
                rules=route.compare,
                target_name=target_name,
                target=target,
                method=self.method,
                path_qs=self.target.decode("latin-1"),
                head=self.upstream_head,
                body=self.body,
                request_headers=self.headers,
                expected=answer,
            )
        )

    def fail(self, err: ProxyError) -> None:
        conn = self.conn
        keep_alive = self.keep_alive and not err.close and conn.more_after()
        conn.write(
            [
                error_answer(
                    err,
                    route=self.route.encode(),
                    request_id=self.request_id,
                    keep_alive=keep_alive,
                    http10=self.http10,
                )
            ]
        )
        conn.hot.metrics.observe_request(
            route=self.route,
            upstream="-",
            mode=self.mode,
            status=err.status,
            seconds=time.monotonic() - self.started,
        )
        conn.done(keep_alive)


class ClientConnection(asyncio.Protocol):
    """One client connection: parse requests, answer them in order."""

    def __init__(self, hot: Listener) -> None:
        self.hot = hot
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.peer = "unknown"
        self.peer_bytes = b"unknown"
        self.trusted = False
        self.pending: deque[Exchange] = deque()
        self.busy = False  # an exchange is in flight
        self.closing = False
        self.paused = False  # our write buffer is full: no next request meanwhile
        self.last_request = False  # nothing after the current requests may be parsed
        self.after_last = False  # a request said it was the last (no keep-alive)
        self.linger_until = 0.0  # answered and half-closed: reading what is left until then
        self.linger_left = 0
        self.refused: ProxyError | None = None
        self.continue_owed = False
        self.draining = False
        self.head_started = 0.0  # the current head's first byte came then (0: not in a head)
        self.last_active = time.monotonic()
        # the request being parsed
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []
        self.body_size = 0
        self.partial = 0  # bytes of the head's unfinished line
        self.head_bytes = 0  # bytes of the current head (or of its trailers) so far
        self.in_trailers = False  # the head is complete: header lines now are trailers
        self.trailer_lines = 0
        self.lines = 0  # request lines and header lines parsed on this connection
        self.heads = 0  # heads begun on this connection

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername")
        if peer:
            self.peer = str(peer[0])
            self.peer_bytes = self.peer.encode()
        self.trusted = self.hot.trust.trusts(self.peer)
        self.hot.clients.add(self)

    def connection_lost(self, exc: BaseException | None) -> None:
        self.closing = True
        self.transport = None
        self.pending.clear()
        self.hot.clients.discard(self)

    def pause_writing(self) -> None:
        """Backpressure: a client that does not read its answers is not read from."""
        self.paused = True
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.paused = False
        if self.transport is not None and not self.closing:
            if not self.last_request:
                self.transport.resume_reading()
            self._next()

    def data_received(self, data: bytes) -> None:
        if self.linger_until:
            self.linger_left -= len(data)
            if self.linger_left < 0 and self.transport is not None:
                self.transport.close()
            return
        if self.closing or self.refused is not None:
            return
        lines, heads = self.lines, self.heads
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self.last_request = True  # the bytes after an Upgrade request are not HTTP/1.1
            if self.transport is not None:
                self.transport.pause_reading()
        except httptools.HttpParserError:
            if self.refused is None:
                self.refused = ProxyError(400, "malformed_request", "Malformed request.", True)
        else:
            # Inside a head, count the bytes of its unfinished line (httptools keeps them until
            # the line ends). Exact when the head began in an earlier piece; a piece in which
            # a head began is not counted (at most one read, bounded by the transport).
            if self.head_started and self.heads == heads:
                if self.lines != lines:
                    self.partial = len(data) - data.rfind(b"\n") - 1
                else:
                    self.partial += len(data)
                if self.partial > self.hot.max_line:
                    self.refused = _HEAD_TOO_LARGE
        if self.refused is not None:
            self.refuse_when_idle()
        elif self.continue_owed and not self.busy and not self.pending:
            self.continue_owed = False
            if self.transport is not None:
                self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    # httptools callbacks
    def on_message_begin(self) -> None:
        self.url = b""
        self.headers = []
        self.body = []
        self.body_size = 0
        self.partial = 0
        self.head_bytes = 0
        self.in_trailers = False
        self.heads += 1
        self.head_started = time.monotonic()  # the head's first byte: its deadline starts

    def on_url(self, url: bytes) -> None:
        self.url += url
        self.lines += 1
        self.head_bytes += len(url)
        if len(self.url) > self.hot.max_line:
            self.refused = _HEAD_TOO_LARGE
            raise httptools.HttpParserError("request line too long")

    def on_header(self, name: bytes, value: bytes) -> None:
        """A header line, or after the head a chunked trailer: trailers are held to the same
        limits and dropped (checked after the head, they must never reach an upstream as
        headers; nothing upstream needs them)."""
        self.lines += 1
        line = len(name) + len(value) + 4
        self.head_bytes += line
        hot = self.hot
        if line - 2 > hot.max_line or self.head_bytes > hot.max_head:
            self.refused = _HEAD_TOO_LARGE
            raise httptools.HttpParserError("head over the limits")
        if self.in_trailers:
            self.trailer_lines += 1
            if self.trailer_lines > hot.max_headers:
                self.refused = _HEAD_TOO_LARGE
                raise httptools.HttpParserError("trailers over the limits")
            return
        self.headers.append((name, value))
        if len(self.headers) > hot.max_headers:
            self.refused = _HEAD_TOO_LARGE
            raise httptools.HttpParserError("head over the limits")

    def on_headers_complete(self) -> None:
        self.head_started = 0.0
        self.in_trailers = True
        self.head_bytes = 0
        self.trailer_lines = 0
        parser = self.parser
        version = parser.get_http_version()
        if version != "1.1" and version != "1.0":
            self.refused = ProxyError(
                400, "malformed_request", "Only HTTP/1.0 and HTTP/1.1 are served.", True
            )
            raise httptools.HttpParserError("version refused")
        expect = upgrade = has_body = False
        hosts = 0
        for name, value in self.headers:
            lower = name.lower()
            if lower == b"host":
                hosts += 1
            elif lower == b"upgrade":
                upgrade = True
            elif lower == b"transfer-encoding":
                has_body = True
                if version != "1.1" or value.strip().lower() != b"chunked" or self._te_repeated():
                    self.refused = ProxyError(
                        400,
                        "malformed_request",
                        "Transfer-Encoding other than chunked refused.",
                        True,
                    )
                    raise httptools.HttpParserError("framing refused")
            elif lower == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    length = 0  # llhttp refuses it
                has_body = has_body or length > 0
                too_large = length > self.hot.max_body
                if too_large:
                    self.refused = ProxyError(
                        413,
                        "payload_too_large",
                        f"Request body exceeds {self.hot.max_body} bytes.",
                    )
                    raise httptools.HttpParserError("body over the limit")
            elif lower == b"expect" and value.strip().lower() == b"100-continue":
                expect = version == "1.1"
        if version == "1.1" and hosts != 1:
            self.refused = ProxyError(
                400, "malformed_request", "An HTTP/1.1 request needs exactly one Host.", True
            )
            raise httptools.HttpParserError("host refused")
        if upgrade and has_body:
            # httptools would hand the body over as upgraded bytes; nothing here upgrades.
            self.refused = ProxyError(
                400, "malformed_request", "Upgrade with a request body is not served.", True
            )
            raise httptools.HttpParserError("upgrade refused")
        # The body is read here, not upstream (Expect is not forwarded): "send it" is said
        # once the head is parsed and the body has not come with it (data_received), after
        # the answers before this request.
        self.continue_owed = expect

    def _te_repeated(self) -> bool:
        return sum(1 for n, _ in self.headers if n.lower() == b"transfer-encoding") > 1

    def on_body(self, body: bytes) -> None:
        self.body_size += len(body)
        if self.body_size > self.hot.max_body:
            self.refused = ProxyError(
                413, "payload_too_large", f"Request body exceeds {self.hot.max_body} bytes."
            )
            raise httptools.HttpParserError("body over the limit")
        self.body.append(body)

    def on_message_complete(self) -> None:
        if self.closing or self.after_last:
            # The connection is being closed after a refusal, or the request before said it
            # was the last: a request parsed from the same bytes behind it must never reach an
            # upstream.
            return
        parser = self.parser
        body = self.body
        exchange = Exchange(
            self,
            parser.get_method().decode("latin-1"),
            self.url,
            self.headers,
            body[0] if len(body) == 1 else b"".join(body),
            parser.should_keep_alive(),
            parser.get_http_version() == "1.0",
            self.head_started or time.monotonic(),
        )
        self.continue_owed = False
        self.after_last = not exchange.keep_alive
        if self.busy or self.paused:
            self.pending.append(exchange)
            if len(self.pending) > MAX_PIPELINED and self.transport is not None:
                self.transport.pause_reading()  # a client pipelining without reading answers
        else:
            self.busy = True
            exchange.run()

    # answering
    def more_after(self) -> bool:
        """May the connection stay open after the answer being written? Not when nothing
        may follow it, or only a refusal would (then closing says it)."""
        return not self.last_request and (self.refused is None or bool(self.pending))

    def write(self, pieces: list[bytes]) -> None:
        if self.transport is not None:
            self.transport.writelines(pieces)

    def refuse_when_idle(self) -> None:
        """Answer the refusal once the requests before it are answered; then close."""
        if self.busy or self.pending or self.transport is None or self.refused is None:
            return
        self.abort(self.refused)

    def abort(self, err: ProxyError) -> None:
        transport = self.transport
        if transport is None or self.closing:
            return
        self.closing = True
        self.head_started = 0.0
        transport.write(error_answer(err, route=b"-", request_id=b"-", keep_alive=False))
        if err is _HEAD_TIMEOUT:  # a client too slow to send its head gets no more patience
            transport.close()
        else:
            self.close_lingering(transport)
        self.hot.metrics.observe_request(
            route="-", upstream="-", mode="monolith", status=err.status, seconds=0.0
        )

    def close_lingering(self, transport: asyncio.Transport) -> None:
        """Close after the last answer. A client still sending (a body over the limit, a head
        over it, requests pipelined behind the last one) would meet a reset if we closed with
        its bytes unread, and could lose the answer: close our side, and read and drop what it
        still sends (at most LINGER_BYTES, for at most LINGER_S)."""
        if not transport.can_write_eof():
            transport.close()
            return
        transport.write_eof()
        self.linger_until = time.monotonic() + LINGER_S
        self.linger_left = LINGER_BYTES
        if not transport.is_reading():
            transport.resume_reading()

    def done(self, keep_alive: bool) -> None:
        """The answer to the current request is written: next one, or close."""
        self.busy = False
        self.last_active = time.monotonic()
        transport = self.transport
        if self.closing or transport is None:
            return
        if not keep_alive:
            self.closing = True
            self.close_lingering(transport)
            return
        self._next()

    def _next(self) -> None:
        """Start the pipelined requests waiting (a loop, not a recursion: answers the proxy
        gives itself complete synchronously), then what an idle connection owes."""
        if self.draining:
            return
        self.draining = True
        try:
            while self.pending and not self.busy and not self.paused and not self.closing:
                transport = self.transport
                if (
                    transport is not None
                    and not self.last_request
                    and len(self.pending) <= MAX_PIPELINED
                ):
                    transport.resume_reading()
                self.busy = True
                self.pending.popleft().run()
        finally:
            self.draining = False
        transport = self.transport
        if self.busy or self.pending or self.closing or transport is None:
            return
        if self.refused is not None:
            self.refuse_when_idle()
        elif self.last_request:
            self.closing = True
            transport.close()
        elif self.continue_owed:
            self.continue_owed = False
            transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
