"""CPU seconds spent by processes during a benchmark, read from ``/proc`` (Linux).

The machine the benchmarks run on is shared, so wall-clock ratios move with the load; CPU
seconds per process say what a variant costs whatever else runs. ``cpu_seconds`` counts a
process and its threads (``utime + stime``) plus its waited-for children; PostgreSQL backends
are found by database in ``pg_stat_activity``.
"""

from __future__ import annotations

import os
from pathlib import Path

import psycopg

_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of ``pid`` (all its threads) and its reaped children; 0 if gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    # Fields after the command: state is [0]; utime [11], stime [12], cutime [13], cstime [14].
    return sum(int(fields[i]) for i in (11, 12, 13, 14)) / _TICKS


def tree_cpu_seconds(pid: int) -> float:
    """``cpu_seconds`` of ``pid`` and of every live descendant."""
    total = cpu_seconds(pid)
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except FileNotFoundError:
        return total
    return total + sum(tree_cpu_seconds(int(child)) for child in children)


def backend_pids(server_url: str, databases: list[str]) -> list[int]:
    """PostgreSQL backends connected to ``databases`` now (not counting the asking one)."""
    with psycopg.connect(f"{server_url}/postgres", autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = ANY(%s) AND pid <> pg_backend_pid()",
            (databases,),
        ).fetchall()
    return [int(row[0]) for row in rows]


class BackendCpu:
    """CPU of the backends of ``databases`` over a span: backends come and go, so ``sample``
    (call it often) keeps the newest reading per backend; the sum of readings since ``start``
    is a lower bound (a backend's CPU after its last sample is missed)."""

    def __init__(self, server_url: str, databases: list[str]) -> None:
        self.server_url = server_url
        self.databases = databases
        self._at_start: dict[int, float] = {}
        self._last: dict[int, float] = {}

    def start(self) -> None:
        self._at_start = {
            pid: cpu_seconds(pid) for pid in backend_pids(self.server_url, self.databases)
        }
        self._last = dict(self._at_start)

    def sample(self) -> None:
        for pid in backend_pids(self.server_url, self.databases):
            reading = cpu_seconds(pid)
            if reading:
                self._last[pid] = reading

    def seconds(self) -> float:
        return sum(last - self._at_start.get(pid, 0.0) for pid, last in self._last.items())
