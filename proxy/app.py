"""The proxy process: wiring of every part of the façade around its hot path.

The client side is ``proxy/listener.py`` (``asyncio.Protocol`` connections, httptools'
parser), the upstream side ``proxy/upstream_client.py`` (docs/proxy-hot-path.md). A request, top
to bottom: refuse what is ambiguous (framing, head limits and deadline, paths) -> decide the route
(read-your-writes memory included) -> clean the headers -> send to the primary upstream; a
retryable answer, a failure or an open circuit goes through ``proxy/retrying.py`` (retries
under budget, fallback) -> remember which side took a write -> queue a shadow copy -> answer,
and count. The admin API (``proxy/admin.py``) is an ordinary aiohttp ``web.Application`` on its
own port: it is not per request.
"""

from __future__ import annotations

import asyncio
import logging
import signal

from aiohttp import web

from contracts.process_status import STATUS_FILE_NAME
from proxy import headers as hdr
from proxy.admin import admin_app
from proxy.config import RouteTable
from proxy.diffstore import DiffStore
from proxy.listener import Listener
from proxy.metrics import ProxyMetrics
from proxy.read_your_writes import WriteMemory
from proxy.reload import RouteWatcher
from proxy.resilience import Breakers
from proxy.retrying import Forwarder
from proxy.settings import ProxySettings, split_host_port
from proxy.shadow import ShadowQueue
from proxy.synclag import SyncLag
from proxy.upstream_client import UpstreamClient

log = logging.getLogger("proxy")


async def serve(settings: ProxySettings, *, stop: asyncio.Event | None = None) -> None:
    """Run the proxy and its admin API until ``stop`` is set (or SIGTERM/SIGINT)."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    pool = UpstreamClient()
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
    hot = Listener(
        settings,
        watcher,
        pool,
        metrics,
        shadow,
        Forwarder(pool, metrics, breakers),
        WriteMemory(max_entries=settings.read_your_writes_max_keys),
        hdr.ForwardedTrust(settings.trusted_networks),
    )
    host, port = split_host_port(settings.listen)
    server = await loop.create_server(hot.connection, host, port, backlog=2048, reuse_address=True)
    sweep = loop.create_task(hot.sweep(), name="client-sweep")

    admin = admin_app(
        token=settings.resolve_admin_token(),
        watcher=watcher,
        metrics=metrics,
        store=store,
        breakers=breakers,
        processes_file=settings.var / STATUS_FILE_NAME,
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
        sweep.cancel()
        server.close()
        hot.close_clients()
        await server.wait_closed()
        await admin_runner.cleanup()
        await shadow.stop()
        await pool.close()
        await asyncio.to_thread(store.close)
