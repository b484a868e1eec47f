"""The proxy process: the client-facing hot path, and wiring of every part of the façade.

Server side: aiohttp's low-level ``web.Server`` on uvloop. ``bench/upstream_client.py`` runs the
same minimal proxy (aiohttp client) on it and on uvicorn (raw ASGI, uvloop + httptools, no
framework): the two are on par on one core (aiohttp/uvicorn ratio of medians 0.90x-1.36x across
runs on this shared 2-core machine; figures in ``bench/README.md``), so the tie is broken by: one
event loop and one HTTP stack shared with the upstream client, no ASGI translation of headers
and bodies, and no router or middleware on the hot path (the routing decision is ours). The
admin API is an ordinary ``web.Application`` on its own port.

A request, top to bottom (:meth:`ProxyServer.handle`): refuse ambiguous paths and framing ->
decide the route (read-your-writes memory included) -> read the body (limit) -> clean the
headers -> send to the primary upstream, retrying an idempotent request once on a connection
failure or 502-504 under the upstream's retry budget (:meth:`ProxyServer._attempt`); a read goes
once to the route's fallback when the primary gives no answer, a 5xx, or has its circuit open
(:meth:`ProxyServer._forward`) -> remember which side took a write -> queue a shadow copy ->
answer, and count. Head limits (431) and the head-read deadline (408) are enforced per
connection (``proxy/connection.py``) before a request reaches :meth:`ProxyServer.handle`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import signal
import time
from dataclasses import dataclass, field

from aiohttp import HttpVersion10, HttpVersion11, web
from multidict import CIMultiDict

from proxy import headers as hdr
from proxy.admin import admin_app
from proxy.config import SAFE_METHODS, RouteTable
from proxy.connection import GuardedRequestHandler, GuardedServer
from proxy.diffstore import DiffStore
from proxy.forward import UpstreamPool, UpstreamResponse
from proxy.metrics import ProxyMetrics
from proxy.raw_client import encode_request
from proxy.raw_http import ProxyError
from proxy.read_your_writes import WriteMemory
from proxy.reload import RouteWatcher
from proxy.resilience import Breakers, RetryBudgets
from proxy.retrying import Forwarder
from proxy.routing import RequestFacts
from proxy.settings import ProxySettings, split_host_port
from proxy.shadow import ShadowJob, ShadowQueue
from proxy.synclag import SyncLag

log = logging.getLogger("proxy")

#: Encodings that make one path mean two things to two parsers: refused before matching.
_AMBIGUOUS = re.compile(r"%(2[fF]|5[cC]|00)|\\")


def _error_response(err: ProxyError, *, route: str, request_id: str) -> web.Response:
    resp = web.Response(
        status=err.status,
        body=json.dumps({"error": err.code, "detail": err.detail}).encode(),
        content_type="application/json",
    )
    resp.headers[hdr.UPSTREAM] = "-"
    resp.headers[hdr.ROUTE] = route
    resp.headers[hdr.REQUEST_ID] = request_id
    return resp


def _check_path(raw_path: str, path: str) -> None:
    if not raw_path.startswith("/"):
        raise ProxyError(400, "malformed_request", "Only origin-form request targets are served.")
    raw = raw_path.split("?", 1)[0]
    # A dot segment, also as ``..;x`` (servlet containers drop ``;params`` before resolving).
    if _AMBIGUOUS.search(raw) or any(
        seg.split(";", 1)[0] in (".", "..") for seg in path.split("/")
    ):
        raise ProxyError(400, "malformed_request", "Ambiguous path encoding refused.")


def _check_framing(request: web.BaseRequest) -> None:
    """Refuse what the parser accepted but an upstream could read differently (the proxy
    re-frames the body it forwards, so only an unambiguous request may pass)."""
    version = request.version
    if version != HttpVersion11 and version != HttpVersion10:
        raise ProxyError(400, "malformed_request", "Only HTTP/1.0 and HTTP/1.1 are served.", True)
    codings = request.headers.getall("Transfer-Encoding", None)
    if codings is not None and (
        version != HttpVersion11 or len(codings) != 1 or codings[0].strip().lower() != "chunked"
    ):
        raise ProxyError(
            400, "malformed_request", "Transfer-Encoding other than chunked refused.", True
        )
    if request.rel_url.raw_fragment:
        raise ProxyError(400, "malformed_request", "A request target has no fragment.", True)


async def _read_body(request: web.BaseRequest, limit: int) -> bytes:
    length = request.content_length
    if length is not None and length > limit:
        raise ProxyError(413, "payload_too_large", f"Request body exceeds {limit} bytes.")
    if not request.body_exists:
        return b""
    chunks: list[bytes] = []
    size = 0
    while chunk := await request.content.readany():
        size += len(chunk)
        if size > limit:
            raise ProxyError(413, "payload_too_large", f"Request body exceeds {limit} bytes.")
        chunks.append(chunk)
    return b"".join(chunks)


@dataclass
class ProxyServer:
    settings: ProxySettings
    watcher: RouteWatcher
    pool: UpstreamPool
    metrics: ProxyMetrics
    shadow: ShadowQueue
    breakers: Breakers
    writes: WriteMemory
    budgets: RetryBudgets = field(default_factory=RetryBudgets)
    trust: hdr.ForwardedTrust = field(default_factory=hdr.ForwardedTrust)

    def __post_init__(self) -> None:
        self.forwarder = Forwarder(self.pool, self.metrics, self.breakers, self.budgets)

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        started = time.perf_counter()
        method = request.method
        peer = request.remote or "unknown"
        trusted = self.trust.trusts(peer)
        client_addr = self.trust.client_address(peer, request.headers) if trusted else peer
        request_id = hdr.request_id(request.headers)
        snapshot = self.watcher.current  # one read: this request uses one table throughout
        route_name, mode, upstream_name = "-", "monolith", "-"
        try:
            _check_path(request.raw_path, request.path)
            _check_framing(request)
            decision = snapshot.router.decide(
                RequestFacts(method, request.path, request.headers, client_addr),
                None,
                self.writes,
            )
            route_name, mode = decision.route_name, decision.mode
            if decision.primary is None:
                raise ProxyError(404, "not_found", "Not found.")
            body = await _read_body(request, self.settings.max_body_bytes)
            upstream_headers = hdr.upstream_request_headers(
                request.headers,
                client_addr=peer,
                scheme=request.scheme,
                request_id=request_id,
                traceparent=hdr.traceparent(request.headers),
                trusted=trusted,
            )
            path_qs = request.raw_path
            upstreams = snapshot.table.upstreams
            head = encode_request(
                method,
                path_qs,
                upstream_headers.items(),
                body,
                default_host=self.pool.host_header(upstreams[decision.primary]),
            )
            upstream_name, answer = await self.forwarder.forward(decision, upstreams, method, head)
            ryw = decision.route.read_your_writes if decision.route is not None else None
            if ryw is not None and method not in SAFE_METHODS and answer.status < 500:
                assert decision.route is not None and decision.key is not None
                self.writes.remember(
                    decision.route.write_group, decision.key, upstream_name, ryw.window_s
                )
            if decision.shadow is not None and decision.route is not None:
                self.shadow.submit(
                    ShadowJob(
                        route=route_name,
                        rules=decision.route.compare,
                        target_name=decision.shadow,
                        target=upstreams[decision.shadow],
                        method=method,
                        path_qs=path_qs,
                        headers=upstream_headers,
                        body=body,
                        stored_headers=hdr.sanitised_for_storage(request.headers),
                        expected=answer,
                    )
                )
            response = _client_response(
                answer, upstream=upstream_name, route=route_name, request_id=request_id
            )
        except ProxyError as err:
            response = _error_response(err, route=route_name, request_id=request_id)
            if err.close:
                response.force_close()  # the rest of the body is not worth reading, or not safe
        protocol = request.protocol
        if isinstance(protocol, GuardedRequestHandler):
            protocol.expect_next_head()
        self.metrics.observe_request(
            route=route_name,
            upstream=upstream_name,
            mode=mode,
            status=response.status,
            seconds=time.perf_counter() - started,
        )
        return response


def _client_response(
    answer: UpstreamResponse, *, upstream: str, route: str, request_id: str
) -> web.Response:
    headers: CIMultiDict[str] = hdr.client_response_headers(
        answer.headers, upstream=upstream, route=route, request_id=request_id
    )
    response = web.Response(status=answer.status, body=answer.body, headers=headers)
    length = answer.headers.get("Content-Length")
    if not answer.body and length is not None:
        # HEAD (or 304): keep the length the upstream announced for the body it did not send.
        response.headers["Content-Length"] = length
    return response


async def serve(settings: ProxySettings, *, stop: asyncio.Event | None = None) -> None:
    """Run the proxy and its admin API until ``stop`` is set (or SIGTERM/SIGINT)."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    pool = UpstreamPool()
    breakers = Breakers()

    def on_table(table: RouteTable) -> None:
        pool.sync(table.upstreams)
        breakers.sync(table.upstreams)

    watcher = RouteWatcher(
        settings.routes_path, interval_s=settings.reload_interval_s, on_table=on_table
    )
    metrics = ProxyMetrics()
    metrics.watch_breakers(breakers)
    store = DiffStore(settings.diff_url)
    await store.run(store.create_schema)
    shadow = ShadowQueue(
        metrics=metrics,
        store=store,
        size=settings.shadow_queue_size,
        workers=settings.shadow_workers,
        sync_lag=SyncLag(settings.sync_lag_url, interval_s=settings.sync_lag_interval_s),
    )
    shadow.start()
    writes = WriteMemory(max_entries=settings.read_your_writes_max_keys)
    proxy = ProxyServer(settings, watcher, pool, metrics, shadow, breakers, writes)

    proxy.trust = hdr.ForwardedTrust(settings.trusted_networks)
    server = GuardedServer(
        proxy.handle,
        header_timeout_s=settings.header_timeout_s,
        max_headers=settings.max_headers,
        max_field_size=settings.max_header_bytes,
        max_line_size=settings.max_header_bytes,
        access_log=None,
    )
    runner = web.ServerRunner(server, handle_signals=False, shutdown_timeout=5)
    await runner.setup()
    host, port = split_host_port(settings.listen)
    await web.TCPSite(runner, host, port, backlog=2048, reuse_address=True).start()

    admin = admin_app(
        token=settings.resolve_admin_token(),
        watcher=watcher,
        metrics=metrics,
        store=store,
        breakers=breakers,
    )
    admin_runner = web.AppRunner(admin, handle_signals=False, access_log=None)
    await admin_runner.setup()
    admin_host, admin_port = split_host_port(settings.admin_listen)
    await web.TCPSite(admin_runner, admin_host, admin_port, reuse_address=True).start()

    watch = loop.create_task(watcher.run(), name="route-watcher")
    log.info(
        "proxy: serving on %s, admin on %s, routes %s (digest %s)",
        settings.listen,
        settings.admin_listen,
        settings.routes_path,
        watcher.current.digest[:12],
    )
    try:
        await stop.wait()
    finally:
        log.info("proxy: stopping")
        watch.cancel()
        await runner.cleanup()
        await admin_runner.cleanup()
        await shadow.stop()
        await pool.close()
        await asyncio.to_thread(store.close)
