"""Shadow traffic: the target gets a copy of the request off the hot path, in another process, and
the two answers are compared with the route's rules; every mismatch is stored.

The client's event loop only decides and enqueues: :meth:`ShadowQueue.submit` never waits and
never raises. Copies go to one **shadow process** with its own event loop, upstream pool,
diff-store connection and sync-lag poller, where ``PROXY_SHADOW_WORKERS`` tasks send each copy,
compare and store. Sending a copy and comparing two answers cost more CPU than proxying the
request itself; in their own process they run on another core. A copy carries the request head
the primary got (bytes, built once) and the client's raw headers; the ``str`` forms the diff
store and the comparison read are derived in the shadow process. The copies of one loop
iteration cross as one batch (one pickle, one wake-up of the queue's feeder thread), a route's
rules and target are pickled once per route table, and outcomes come back in batches. At
most ``PROXY_SHADOW_QUEUE_SIZE`` copies are in flight (handed to the shadow process, not
finished); beyond that a copy is dropped and counted. If the shadow process dies it is
restarted; the copies it held are lost (logged).

The same process keeps the requests a route records (``record``): the listener hands each
sampled request over like a copy, and the shadow process redacts and stores it
(proxy/recording.py).

Writes are shadowed only to upstreams that honour ``X-Strangler-Dry-Run`` (``dry_run: true``),
always with that header; otherwise they are skipped and counted. Outcomes (compared,
mismatched, upstream errors) feed the proxy's metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import multiprocessing
import pickle
import signal
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.context import SpawnProcess
from multiprocessing.queues import Queue as ProcessQueue
from typing import Any

from proxy.compare import Difference, Exchange, compare_exchanges
from proxy.config import CompareRules, Upstream
from proxy.diffstore import DiffStore, Mismatch, Recording
from proxy.headers import DRY_RUN, HeaderView, sanitised_for_storage
from proxy.metrics import ProxyMetrics
from proxy.recording import redacted_request
from proxy.retrying import READ_METHODS
from proxy.synclag import SyncLag
from proxy.upstream_client import UpstreamClient, UpstreamFailure, UpstreamResponse
from proxy.wire import with_header

log = logging.getLogger("proxy.shadow")

#: How often the proxy checks that its shadow process is alive.
SUPERVISE_INTERVAL_S = 1.0
#: How often the shadow process reports outcomes (they feed metrics and stats).
REPORT_INTERVAL_S = 0.05

Outcome = tuple[Any, ...]

_DRY_RUN = DRY_RUN.encode()


@dataclass(frozen=True, slots=True)
class ShadowJob:
    route: str
    rules: CompareRules
    target_name: str
    target: Upstream
    method: str
    path_qs: str
    #: The request (head and body) as the primary upstream got it: Host kept, so links compare
    #: equal.
    head: list[bytes]
    body: bytes
    #: The client's request headers, stored (credentials redacted) with a mismatch.
    request_headers: list[tuple[bytes, bytes]]
    expected: UpstreamResponse


@dataclass(frozen=True, slots=True)
class _Work:
    """A job as it crosses to the shadow process: plain, picklable values only."""

    route: str
    #: ``pickle.dumps((rules, target))``, made once per route table (:class:`_SpecCache`).
    spec: bytes
    target_name: str
    method: str
    path_qs: str
    head: list[bytes]
    body: bytes
    request_headers: list[tuple[bytes, bytes]]
    expected_status: int
    expected_headers: list[tuple[bytes, bytes]]
    expected_body: bytes


@dataclass(frozen=True, slots=True)
class _Record:
    """A live request to keep for replay (``record`` on its route): redacted and stored in the
    shadow process (proxy/recording.py)."""

    route: str
    keep: int
    method: str
    path_qs: str
    headers: list[tuple[bytes, bytes]]
    body: bytes
    status: int


class _SpecCache:
    """Pickled ``(rules, target)`` per pair of objects: a route table's models are immutable and
    live as long as the table, so each pair is pickled once, not once per copy."""

    def __init__(self) -> None:
        self._blobs: dict[tuple[int, int], tuple[CompareRules, Upstream, bytes]] = {}

    def blob(self, rules: CompareRules, target: Upstream) -> bytes:
        key = (id(rules), id(target))
        found = self._blobs.get(key)
        if found is None or found[0] is not rules or found[1] is not target:
            if len(self._blobs) > 1024:  # many reloads: forget the old tables' pairs
                self._blobs.clear()
            found = (rules, target, pickle.dumps((rules, target)))
            self._blobs[key] = found
        return found[2]


@functools.lru_cache(maxsize=256)
def _spec(blob: bytes) -> tuple[CompareRules, Upstream]:
    rules, target = pickle.loads(blob)
    return rules, target


@dataclass(frozen=True)
class _ProcessConfig:
    store_url: str
    workers: int
    sync_lag_url: str | None
    sync_lag_interval_s: float


class ShadowQueue:
    """Accepts shadow jobs without waiting; a shadow process sends, compares and stores them."""

    def __init__(
        self,
        *,
        metrics: ProxyMetrics,
        store: DiffStore,
        size: int,
        workers: int,
        sync_lag: SyncLag | None = None,
    ) -> None:
        self._metrics = metrics
        lag = sync_lag or SyncLag(None)
        self._config = _ProcessConfig(
            store_url=store.engine.url.render_as_string(hide_password=False),
            workers=workers,
            sync_lag_url=lag.url,
            sync_lag_interval_s=lag.interval_s,
        )
        self._context = multiprocessing.get_context("spawn")
        self._jobs: ProcessQueue[list[_Work | _Record] | None] = self._context.Queue()
        self._results: ProcessQueue[list[Outcome] | None] = self._context.Queue()
        self._process: SpawnProcess | None = None
        self._reader: threading.Thread | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._size = size
        self._specs = _SpecCache()
        self._batch: list[_Work | _Record] = []
        self._flush_scheduled = False
        #: Copies handed to the shadow process and not finished (the loop thread adds, the
        #: results thread removes: under the lock).
        self._in_flight = 0
        self._lock = threading.Lock()
        metrics.watch_shadow_queue(self.depth)

    # -- in the proxy process ------------------------------------------------------------------
    def start(self) -> None:
        self._process = self._spawn()
        self._reader = threading.Thread(target=self._read_results, name="shadow-results")
        self._reader.start()
        self._supervisor = asyncio.get_running_loop().create_task(
            self._supervise(), name="shadow-supervisor"
        )

    def _spawn(self) -> SpawnProcess:
        process = self._context.Process(
            target=_process_main,
            args=(self._config, self._jobs, self._results),
            name="strangler-shadow",
            daemon=True,
        )
        process.start()
        return process

    async def _supervise(self) -> None:
        while True:
            await asyncio.sleep(SUPERVISE_INTERVAL_S)
            if self._process is not None and not self._process.is_alive():
                with self._lock:
                    lost, self._in_flight = self._in_flight, 0
                log.error(
                    "shadow: the shadow process exited (code %s) holding %d copies; "
                    "starting another",
                    self._process.exitcode,
                    lost,
                )
                self._process = self._spawn()

    async def stop(self) -> None:
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
        process = self._process
        if process is not None:
            with contextlib.suppress(ValueError):
                self._jobs.put(None)
            await asyncio.to_thread(process.join, 5)
            if process.is_alive():
                process.terminate()
                await asyncio.to_thread(process.join, 5)
        self._results.put(None)
        if self._reader is not None:
            await asyncio.to_thread(self._reader.join, 5)
        self._jobs.cancel_join_thread()
        self._jobs.close()
        self._results.close()

    def submit(self, job: ShadowJob) -> None:
        """Queue a copy, or count it as skipped (unsafe write) or dropped (too many in flight)."""
        if job.method not in READ_METHODS:
            if not job.target.dry_run:
                self._metrics.observe_shadow(
                    route=job.route, outcome="skipped", reason="write_without_dry_run"
                )
                return
            job = dataclasses.replace(job, head=with_header(job.head, _DRY_RUN, b"1"))
        if not self._take_slot():
            self._metrics.observe_shadow(route=job.route, outcome="dropped", reason="queue_full")
            return
        self._append(
            _Work(
                route=job.route,
                spec=self._specs.blob(job.rules, job.target),
                target_name=job.target_name,
                method=job.method,
                path_qs=job.path_qs,
                head=job.head,
                body=job.body,
                request_headers=job.request_headers,
                expected_status=job.expected.status,
                expected_headers=job.expected.raw_headers,
                expected_body=job.expected.body,
            )
        )

    def record(
        self,
        *,
        route: str,
        keep: int,
        method: str,
        path_qs: str,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        status: int,
    ) -> None:
        """Queue a live request to be kept for replay (dropped when too many are in flight)."""
        if self._take_slot():
            self._append(_Record(route, keep, method, path_qs, headers, body, status))

    def _take_slot(self) -> bool:
        with self._lock:
            if self._in_flight >= self._size:
                return False
            self._in_flight += 1
            return True

    def _append(self, item: _Work | _Record) -> None:
        self._batch.append(item)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        """Hand this loop iteration's copies to the shadow process as one batch."""
        batch, self._batch, self._flush_scheduled = self._batch, [], False
        try:
            self._jobs.put_nowait(batch)
        except ValueError:  # closed while stopping
            with self._lock:
                self._in_flight -= len(batch)

    def _read_results(self) -> None:
        """Outcomes from the shadow process -> metrics (a thread: the metrics are thread-safe)."""
        while True:
            try:
                outcomes = self._results.get()
            except (EOFError, OSError):
                return
            if outcomes is None:
                return
            done = 0
            for kind, *fields in outcomes:
                if kind == "compared":
                    route, target, mismatched = fields
                    self._metrics.observe_comparison(
                        route=route, target=target, mismatched=mismatched
                    )
                    done += 1
                elif kind == "upstream_error":
                    upstream, failure = fields
                    self._metrics.observe_upstream_error(upstream=upstream, kind=failure)
                elif kind in ("recorded", "failed"):  # failed: logged there, finished all the same
                    done += 1
            with self._lock:
                self._in_flight = max(0, self._in_flight - done)

    def depth(self) -> int:
        """Copies handed to the shadow process and not finished yet."""
        with self._lock:
            return self._in_flight


# -- in the shadow process -------------------------------------------------------------------


def _process_main(
    config: _ProcessConfig,
    jobs: ProcessQueue[list[_Work | _Record] | None],
    results: ProcessQueue[list[Outcome] | None],
) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the proxy process decides when to stop
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        asyncio.run(_serve_shadow(config, jobs, results))
    else:
        uvloop.run(_serve_shadow(config, jobs, results))


async def _serve_shadow(
    config: _ProcessConfig,
    jobs: ProcessQueue[list[_Work | _Record] | None],
    results: ProcessQueue[list[Outcome] | None],
) -> None:
    lag = SyncLag(config.sync_lag_url, interval_s=config.sync_lag_interval_s)
    runner = _ShadowRunner(DiffStore(config.store_url), results, lag)
    local: asyncio.Queue[_Work | _Record] = asyncio.Queue(maxsize=config.workers)
    tasks = [
        asyncio.create_task(runner.work(local), name=f"shadow-{n}") for n in range(config.workers)
    ]
    tasks.append(asyncio.create_task(lag.run(), name="sync-lag"))
    tasks.append(asyncio.create_task(runner.report(), name="shadow-report"))
    loop = asyncio.get_running_loop()
    try:
        while (batch := await loop.run_in_executor(None, jobs.get)) is not None:
            for item in batch:
                await local.put(item)
        await local.join()
        runner.flush()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await runner.close()


class _ShadowRunner:
    def __init__(
        self, store: DiffStore, results: ProcessQueue[list[Outcome] | None], lag: SyncLag
    ) -> None:
        self._pool = UpstreamClient()
        self._store = store
        self._results = results
        self._sync_lag = lag
        self._outcomes: list[Outcome] = []

    def _tell(self, *outcome: Any) -> None:
        self._outcomes.append(outcome)

    def flush(self) -> None:
        if self._outcomes:
            batch, self._outcomes = self._outcomes, []
            self._results.put(batch)

    async def report(self) -> None:
        """Send outcomes to the proxy process in batches, every :data:`REPORT_INTERVAL_S`."""
        while True:
            await asyncio.sleep(REPORT_INTERVAL_S)
            self.flush()

    async def close(self) -> None:
        await self._pool.close()
        await asyncio.to_thread(self._store.close)

    async def work(self, local: asyncio.Queue[_Work | _Record]) -> None:
        while True:
            item = await local.get()
            try:
                if isinstance(item, _Record):
                    await self.keep(item)
                else:
                    await self.run(item)
            except asyncio.CancelledError:
                raise
            except Exception:  # one bad job must not stop the sender
                log.exception(
                    "shadow: %s %s on route %s failed", item.method, item.path_qs, item.route
                )
                self._tell("failed", item.route)
            finally:
                local.task_done()

    async def keep(self, item: _Record) -> None:
        headers, body, body_kept = redacted_request(
            ((name.decode("latin-1"), value.decode("latin-1")) for name, value in item.headers),
            item.body,
        )
        path, _, query = item.path_qs.partition("?")
        recording = Recording(
            route=item.route,
            method=item.method,
            path=path,
            query=query,
            headers=headers,
            body=body,
            body_kept=body_kept,
            status=item.status,
            at=datetime.now(UTC),
        )
        await self._store.run(self._store.record, recording, keep=item.keep)
        self._tell("recorded", item.route)

    async def run(self, item: _Work) -> None:
        rules, target = _spec(item.spec)
        expected = _exchange(
            UpstreamResponse(item.expected_status, item.expected_headers, item.expected_body)
        )
        try:
            answer = await self._pool.request(item.target_name, target, item.method, item.head)
        except UpstreamFailure as failure:
            self._tell("upstream_error", item.target_name, failure.kind)
            actual = Exchange(0, {}, failure.detail.encode())
            differences = [Difference("status", "missing", expected.status, None)]
        else:
            actual = _exchange(answer)
            differences = compare_exchanges(expected, actual, rules)
        if not differences:
            self._tell("compared", item.route, item.target_name, False)
            return
        path, _, query = item.path_qs.partition("?")
        await self._store.run(
            self._store.add,
            Mismatch(
                route=item.route,
                method=item.method,
                path=path,
                query=query,
                target=item.target_name,
                sync_lag_s=self._sync_lag.current(),
                request_headers=sanitised_for_storage(HeaderView(item.request_headers)),
                request_body=item.body,
                expected_status=expected.status,
                expected_headers=expected.headers,
                expected_body=expected.body,
                actual_status=actual.status,
                actual_headers=actual.headers,
                actual_body=actual.body,
                differences=[d.as_dict() for d in differences],
                rules=rules.model_dump(mode="json"),
                at=datetime.now(UTC),
            ),
        )
        # Counted once stored: a reader that sees the count finds the row.
        self._tell("compared", item.route, item.target_name, True)


def _exchange(answer: UpstreamResponse) -> Exchange:
    """An answer as the comparison reads it (``str`` headers, one value per name)."""
    return Exchange(answer.status, dict(answer.headers.items()), answer.body)
