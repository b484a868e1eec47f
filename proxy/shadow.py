"""Shadow traffic: the target gets a copy of the request off the hot path, and the two answers
are compared with the route's rules; every mismatch is stored.

A bounded queue sits between the hot path and the senders: when it is full the copy is dropped
(and counted), so a slow or dead target never slows a client. Writes are shadowed only to
upstreams that honour ``X-Strangler-Dry-Run`` (``dry_run: true``), always with that header;
otherwise they are skipped (and counted). Comparing runs on the event loop for small answers
and in one worker process for large ones, so a big diff never stalls client requests.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import multiprocessing
from collections.abc import Callable, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime

from multidict import CIMultiDict

from proxy.compare import Difference, Exchange, compare_exchanges
from proxy.config import CompareRules, Upstream
from proxy.diffstore import DiffStore, Mismatch
from proxy.forward import IDEMPOTENT, UpstreamFailure, UpstreamPool, UpstreamResponse
from proxy.headers import DRY_RUN
from proxy.metrics import ProxyMetrics
from proxy.synclag import SyncLag

log = logging.getLogger("proxy.shadow")

Comparer = Callable[[Exchange, Exchange, CompareRules], list[Difference]]
#: Both bodies together up to this size are compared on the event loop (microseconds).
INLINE_COMPARE_BYTES = 32 * 1024


@dataclass(frozen=True, slots=True)
class ShadowJob:
    route: str
    rules: CompareRules
    target_name: str
    target: Upstream
    method: str
    path_qs: str
    #: Headers as sent to the primary upstream (Host kept, so links compare equal).
    headers: CIMultiDict[str]
    body: bytes
    #: Request headers as stored with a mismatch (credentials redacted).
    stored_headers: Mapping[str, str]
    expected: UpstreamResponse


def _exchange(resp: UpstreamResponse) -> Exchange:
    return Exchange(resp.status, dict(resp.headers.items()), resp.body)


class ShadowQueue:
    """Accepts shadow jobs without waiting; ``workers`` tasks send, compare and store them."""

    def __init__(
        self,
        *,
        pool: UpstreamPool,
        metrics: ProxyMetrics,
        store: DiffStore,
        size: int,
        workers: int,
        comparer: Comparer = compare_exchanges,
        sync_lag: SyncLag | None = None,
    ) -> None:
        self._pool = pool
        self._sync_lag = sync_lag or SyncLag(None)
        self._metrics = metrics
        self._store = store
        self._compare = comparer
        self._queue: asyncio.Queue[ShadowJob] = asyncio.Queue(maxsize=size)
        self._workers = workers
        self._tasks: list[asyncio.Task[None]] = []
        self._processes: ProcessPoolExecutor | None = None
        metrics.watch_shadow_queue(self._queue.qsize)

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._work(), name=f"shadow-{n}") for n in range(self._workers)
        ]
        self._tasks.append(loop.create_task(self._sync_lag.run(), name="sync-lag"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self._processes is not None:
            self._processes.shutdown(wait=False, cancel_futures=True)
            self._processes = None

    async def _differences(
        self, expected: Exchange, actual: Exchange, rules: CompareRules
    ) -> list[Difference]:
        """Compare on the event loop when it takes microseconds; in a worker process when the
        bodies are large enough to stall every client request on the loop for milliseconds (a
        500-row page whose bytes differ takes ~3-8 ms to compare here)."""
        if len(expected.body) + len(actual.body) <= INLINE_COMPARE_BYTES:
            return self._compare(expected, actual, rules)
        if self._processes is None:
            self._processes = ProcessPoolExecutor(
                max_workers=1, mp_context=multiprocessing.get_context("spawn")
            )
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._processes, self._compare, expected, actual, rules)

    def submit(self, job: ShadowJob) -> None:
        """Queue a copy, or count it as skipped (unsafe write) or dropped (queue full)."""
        if job.method not in IDEMPOTENT:
            if not job.target.dry_run:
                self._metrics.observe_shadow(
                    route=job.route, outcome="skipped", reason="write_without_dry_run"
                )
                return
            headers = job.headers.copy()
            headers[DRY_RUN] = "1"
            job = dataclasses.replace(job, headers=headers)
        try:
            self._queue.put_nowait(job)
        except asyncio.QueueFull:
            self._metrics.observe_shadow(route=job.route, outcome="dropped", reason="queue_full")

    async def _work(self) -> None:
        while True:
            job = await self._queue.get()
            try:
                await self._run(job)
            except asyncio.CancelledError:
                raise
            except Exception:  # one bad job must not stop the sender
                log.exception(
                    "shadow: %s %s on route %s failed", job.method, job.path_qs, job.route
                )
            finally:
                self._queue.task_done()

    async def _run(self, job: ShadowJob) -> None:
        expected = _exchange(job.expected)
        try:
            answer = await self._pool.send(
                job.target_name, job.target, job.method, job.path_qs, job.headers, job.body
            )
        except UpstreamFailure as failure:
            self._metrics.observe_upstream_error(upstream=job.target_name, kind=failure.kind)
            actual = Exchange(0, {}, failure.detail.encode())
            differences = [Difference("status", "missing", expected.status, None)]
        else:
            actual = _exchange(answer)
            differences = await self._differences(expected, actual, job.rules)
        self._metrics.observe_comparison(
            route=job.route, target=job.target_name, mismatched=bool(differences)
        )
        if not differences:
            return
        path, _, query = job.path_qs.partition("?")
        await self._store.run(
            self._store.add,
            Mismatch(
                route=job.route,
                method=job.method,
                path=path,
                query=query,
                target=job.target_name,
                sync_lag_s=self._sync_lag.current(),
                request_headers=job.stored_headers,
                request_body=job.body,
                expected_status=expected.status,
                expected_headers=dict(expected.headers),
                expected_body=expected.body,
                actual_status=actual.status,
                actual_headers=dict(actual.headers),
                actual_body=actual.body,
                differences=[d.as_dict() for d in differences],
                rules=job.rules.model_dump(mode="json"),
                at=datetime.now(UTC),
            ),
        )

    @property
    def depth(self) -> int:
        return self._queue.qsize()
