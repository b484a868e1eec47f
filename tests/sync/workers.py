"""Real Celery worker and outbox relay processes for the sync tests (never eager mode)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from tests.support.components import process_spec
from tests.support.processes import ServerProcess
from tests.support.random_refs import random_suffix
from tests.support.waiting import wait_for

#: What a Celery worker ("celery@host ready.") and the relay ("relay: ready") log once serving.
_READY = re.compile(r" ready\.|relay: ready")


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
