"""Real Celery worker and outbox relay processes for the sync tests (never eager mode)."""

from __future__ import annotations

import re
import signal
import subprocess
from collections.abc import Iterable, Iterator, Mapping
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path

from tests.support.components import process_spec
from tests.support.processes import ServerProcess
from tests.support.random_refs import random_suffix
from tests.support.waiting import wait_for

#: What a Celery worker ("celery@host ready.") and the relay ("relay: ready") log once serving.
_READY = re.compile(r" ready\.|relay: ready")


#: Start-up steps of a Celery worker on Redis that only exchange notes with the other workers
#: (revoked task ids, clocks, heartbeats): no test reads them, and mingle alone waits a second
#: for neighbours at every start.
_WITHOUT_NEIGHBOURS = ("--without-mingle", "--without-gossip")


def _stack_argv(process: str) -> list[str]:
    """The argv `strangler up` uses for ``process``, so tests run what the stack runs."""
    return list(process_spec(process).argv)


def worker_process(
    process: str,
    *,
    env: Mapping[str, str],
    log_dir: Path,
    concurrency: int | None = None,
    app: str | None = None,
) -> ServerProcess:
    """``worker-monolith`` / ``worker-inventory`` (or another ``app``), not started yet. A unique
    node name keeps parallel runs apart."""
    argv = _stack_argv("worker-inventory" if app else process)
    if app:
        argv[argv.index("-A") + 1] = app
    argv[argv.index("-n") + 1] = f"{process}-{random_suffix()}@%h"
    argv += _WITHOUT_NEIGHBOURS
    if concurrency is not None:
        argv[argv.index("--concurrency") + 1] = str(concurrency)
    return ServerProcess(f"{process}-{random_suffix()}", argv, env=env, log_dir=log_dir)


def relay_process(*, env: Mapping[str, str], log_dir: Path) -> ServerProcess:
    """The stack's outbox relay, not started yet."""
    return ServerProcess(f"relay-{random_suffix()}", _stack_argv("relay"), env=env, log_dir=log_dir)


@contextmanager
def running_worker(
    process: str,
    *,
    env: Mapping[str, str],
    log_dir: Path,
    concurrency: int | None = None,
    app: str | None = None,
) -> Iterator[ServerProcess]:
    """Run a worker (``worker_process``) and wait until it consumes; stop it on exit."""
    spec = worker_process(process, env=env, log_dir=log_dir, concurrency=concurrency, app=app)
    with spec as worker:
        wait_until_ready(worker)
        yield worker


def wait_until_ready(worker: ServerProcess) -> None:
    def ready() -> bool:
        if not worker.alive():
            raise RuntimeError(f"{worker.name} exited early:\n{worker.log_tail()}")
        return _READY.search(worker.log_path.read_text(errors="replace")) is not None

    try:
        wait_for(ready, timeout=60, message=f"{worker.name} to be ready")
    except AssertionError as err:
        raise AssertionError(f"{err}\n--- {worker.name} log ---\n{worker.log_tail()}") from err


@contextmanager
def running_relay(*, env: Mapping[str, str], log_dir: Path) -> Iterator[ServerProcess]:
    """The stack's outbox relay process, once it listens (PostgreSQL) or polls (SQLite)."""
    with relay_process(env=env, log_dir=log_dir) as relay:
        wait_until_ready(relay)
        yield relay


@contextmanager
def running_workers(
    processes: Iterable[str],
    *,
    env: Mapping[str, str],
    log_dir: Path,
    concurrency: int | None = None,
) -> Iterator[list[ServerProcess]]:
    """Several workers started side by side (their imports overlap), once all consume; stopped
    on exit."""
    with ExitStack() as stack:
        workers = [
            stack.enter_context(
                worker_process(process, env=env, log_dir=log_dir, concurrency=concurrency)
            )
            for process in processes
        ]
        for worker in workers:
            wait_until_ready(worker)
        yield workers


class WorkerPool:
    """Workers the tests of a module share (on one rig, one queue prefix), so each starts once:
    ``running`` starts those not running yet, side by side, and leaves them running after the
    test; ``take`` hands one over to a test that kills it (the next ``running`` starts another);
    ``close`` stops the rest."""

    def __init__(self, env: Mapping[str, str], log_dir: Path) -> None:
        self._env = env
        self._log_dir = log_dir
        self._workers: dict[tuple[str, int | None], ServerProcess] = {}

    def running(self, *processes: str, concurrency: int | None = None) -> list[ServerProcess]:
        keys = [(process, concurrency) for process in processes]
        started = []
        for key in keys:
            worker = self._workers.get(key)
            if worker is None or not worker.alive():
                if worker is not None:
                    worker.stop()  # reaped: it died (a test killed it without taking it)
                worker = worker_process(
                    key[0], env=self._env, log_dir=self._log_dir, concurrency=concurrency
                ).start()
                self._workers[key] = worker
                started.append(worker)
        for worker in started:
            wait_until_ready(worker)
        return [self._workers[key] for key in keys]

    def take(self, process: str, *, concurrency: int | None = None) -> ServerProcess:
        """``process``'s running worker, no longer the pool's (the test stops or kills it)."""
        [worker] = self.running(process, concurrency=concurrency)
        del self._workers[(process, concurrency)]
        return worker

    def stop(self, process: str, *, concurrency: int | None = None) -> None:
        worker = self._workers.pop((process, concurrency), None)
        if worker is not None:
            worker.stop()

    def close(self) -> None:
        """Stop every worker of the pool, side by side (each finishes its warm shutdown)."""
        workers = list(self._workers.values())
        self._workers.clear()
        for worker in workers:
            with suppress(ProcessLookupError):
                worker.kill(signal.SIGTERM)
        for worker in workers:
            if worker.proc is not None:
                with suppress(subprocess.TimeoutExpired):
                    worker.proc.wait(timeout=10)
            worker.stop()


class LogMark:
    """Where a process's log stands now: ``text`` is what it logged since (a shared worker's
    log holds the earlier tests' lines too)."""

    def __init__(self, process: ServerProcess) -> None:
        self.path = process.log_path
        self.offset = self.path.stat().st_size if self.path.exists() else 0

    def text(self) -> str:
        with self.path.open("rb") as log:
            log.seek(self.offset)
            return log.read().decode(errors="replace")
