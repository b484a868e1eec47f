"""Start and stop the processes a benchmark measures (own process group, output to a log)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

#: The monolith's gunicorn worker processes in the benchmarks (``stack_processes``'s
#: ``monolith_workers``): their figures in bench/README.md were measured with two workers of four
#: threads; `strangler up` runs one of eight, to save memory.
BENCH_MONOLITH_WORKERS = 2


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running(
    argv: Sequence[str],
    *,
    log: Path,
    env: Mapping[str, str] | None = None,
    cpus: str | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``argv`` (pinned to ``cpus`` when given) for the duration of the block."""
    full = ["taskset", "-c", cpus, *argv] if cpus is not None else list(argv)
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen(
            full,
            cwd=REPO_ROOT,
            env={**os.environ, **(env or {})},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
