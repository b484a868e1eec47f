"""Sync lag at a steady write rate: commit in the monolith to applied in the service.

Starts, as ``strangler/stack.py`` runs them, the monolith (gunicorn) on a fresh PostgreSQL
database, the outbox relay (``python -m sync.relay``: LISTEN/NOTIFY) and the inventory event
worker (``celery -A sync.inventory_worker``) writing a fresh inventory database, with Redis
(``--redis``, default the local one; queues under a prefix of this run) as the broker. Then:

* baseline: ``--rate`` empty Celery tasks per second for ``--seconds`` through the same broker to
  a worker with the same options (``bench.noop_worker``): the broker round trip alone;
* figure: ``--rate`` stock adjustments per second (open loop: each sent at its scheduled time)
  through the monolith's HTTP API for ``--seconds``; each one's commit-to-applied latency is the
  service's ``processed_events.lag_s`` (applied_at minus the occurred_at stamped inside the
  monolith's transaction, so it also counts the commit itself). The writer is the load
  generator, not the system under test: the proxy's raw keep-alive client on uvloop (at most 32
  connections), so it takes little of the CPU the pipeline needs.

Prints p50/p99 of both, the ratio, the write rate achieved, and writes
``bench/results/relay_lag.json``. Target (issue 6): p99 commit-to-applied <= 250 ms at 200/s.

Run: ``.venv/bin/python -m bench.relay_lag [--rate 200] [--seconds 30] [--products 200]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import redis
import uvloop

from bench.monolith_prep import PG_SERVER, fresh_postgres, manage
from bench.proc_cpu import cpu_seconds, process_tree
from bench.processes import BENCH_MONOLITH_WORKERS, REPO_ROOT, free_port, running
from bench.wrk import wait_http
from proxy.config import Upstream
from proxy.upstream_client import UpstreamClient
from strangler.stack import Ports, stack_processes
from sync.celery_app import make_celery

RESULTS = REPO_ROOT / "bench" / "results" / "relay_lag.json"
MONOLITH_DB = "strangler_bench_relay_mono"
INVENTORY_DB = "strangler_bench_relay_inv"


def _argv(name: str, ports: Ports) -> list[str]:
    return next(
        list(p.argv)
        for p in stack_processes(ports, monolith_workers=BENCH_MONOLITH_WORKERS)
        if p.name == name
    )


def _percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    cuts = statistics.quantiles(ordered, n=100, method="inclusive")
    return {
        "n": len(ordered),
        "p50_ms": round(cuts[49] * 1000, 1),
        "p99_ms": round(cuts[98] * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
    }


def _paced(rate: float, seconds: float, send: Callable[[int], None], threads: int = 1) -> float:
    """Call ``send(i)`` at ``rate`` per second (open loop: each at its scheduled time, on a pool
    of ``threads``) for ``seconds``; the rate achieved."""
    total = int(rate * seconds)
    with ThreadPoolExecutor(threads) as pool:
        start = time.monotonic()
        futures = []
        for i in range(total):
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)  # the schedule itself, not a wait for a condition
            futures.append(pool.submit(send, i))
        for future in futures:
            future.result()
    return total / (time.monotonic() - start)


def _baseline(args: argparse.Namespace, env: dict[str, str], logs: Path) -> dict[str, float]:
    key = f"bench-noop-{uuid.uuid4().hex[:8]}"
    noop_env = {
        **env,
        "STRANGLER_QUEUE_PREFIX": f"{env['STRANGLER_QUEUE_PREFIX']}noop",
        "STRANGLER_BENCH_NOOP_URL": args.redis,
        "STRANGLER_BENCH_NOOP_KEY": key,
    }
    argv = _argv("worker-inventory", Ports())
    argv[argv.index("-A") + 1] = "bench.noop_worker"
    argv[argv.index("-n") + 1] = f"noop-{key}@%h"
    store = redis.Redis.from_url(args.redis)
    os.environ.update(noop_env)  # make_celery reads the environment
    sender = make_celery("bench-sender")
    with running(argv, log=logs / "noop-worker.log", env=noop_env):
        _wait_worker(logs / "noop-worker.log")

        def send(_: int) -> None:
            sender.send_task("inventory.noop", args=[time.time()])

        _paced(args.rate, args.seconds, send)
        total = int(args.rate * args.seconds)
        deadline = time.monotonic() + 60
        while store.llen(key) < total and time.monotonic() < deadline:
            time.sleep(0.2)
        values = [float(v) for v in store.lrange(key, 0, -1)]
    store.delete(key)
    return _percentiles(values)


def _wait_worker(log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.exists() and (" ready." in log.read_text(errors="replace")):
            return
        time.sleep(0.2)
    raise SystemExit(f"worker not ready: see {log}")


def _wait_relay(log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.exists() and "relay: ready" in log.read_text(errors="replace"):
            return
        time.sleep(0.2)
    raise SystemExit(f"relay not ready: see {log}")


def _backend_pids(urls: list[str]) -> list[int]:
    """The PostgreSQL server processes serving the bench's databases (same host: /proc works)."""
    names = [url.rsplit("/", 1)[-1] for url in urls]
    with psycopg.connect(urls[0]) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = ANY(%s) AND pid <> pg_backend_pid()",
            (names,),
        ).fetchall()
    return [r[0] for r in rows]


class _CpuMeter:
    """CPU seconds per process group between ``start`` and ``stop`` (``bench.proc_cpu``)."""

    def __init__(self, groups: dict[str, Callable[[], list[int]]]) -> None:
        self._groups = groups
        self._pids: dict[str, list[int]] = {}
        self._before: dict[str, float] = {}

    def start(self) -> None:
        self._pids = {name: pids() for name, pids in self._groups.items()}
        self._before = {name: cpu_seconds(p) for name, p in self._pids.items()}
        self._before["writer (this process)"] = time.process_time()

    def stop(self) -> dict[str, float]:
        # Processes that appeared since (a backend opened mid-run) count from zero.
        pids = {name: sorted(set(p) | set(self._groups[name]())) for name, p in self._pids.items()}
        used = {name: cpu_seconds(p) - self._before[name] for name, p in pids.items()}
        used["writer (this process)"] = time.process_time() - self._before["writer (this process)"]
        return used


def _stages(monolith_url: str, inventory_url: str, since: datetime) -> dict[str, Any]:
    """Split each event's lag at the relay's mark: occurred -> published (the commit, the relay's
    wake-up and its batch) and published -> applied (broker, worker queue, apply). The relay
    stamps ``published_at`` after the whole batch went out, so a worker may apply an event
    before it (a negative second stage)."""
    with psycopg.connect(monolith_url) as conn:
        published = {
            str(event_id): (occurred, marked)
            for event_id, occurred, marked in conn.execute(
                "SELECT event_id, occurred_at, published_at FROM outbox_outboxevent"
                " WHERE occurred_at >= %s AND published_at IS NOT NULL",
                (since,),
            )
        }
    with psycopg.connect(inventory_url) as conn:
        applied = {
            str(event_id): at
            for event_id, at in conn.execute(
                "SELECT event_id, applied_at FROM processed_events WHERE occurred_at >= %s",
                (since,),
            )
        }
    first, second = [], []
    for event_id, (occurred, marked) in published.items():
        if event_id in applied:
            first.append((marked - occurred).total_seconds())
            second.append((applied[event_id] - marked).total_seconds())
    batches = len({marked for _, marked in published.values()})
    return {
        "occurred_to_published": _percentiles(first),
        "published_to_applied": _percentiles(second),
        "relay_batches": batches,
        "events_per_batch": round(len(published) / batches, 1) if batches else 0.0,
    }


async def _post_paced(
    upstream: Upstream,
    rate: float,
    seconds: float,
    request: Callable[[int], tuple[str, bytes]],
    *,
    staff_token: str,
    connections: int = 32,
) -> tuple[float, list[float]]:
    """POST ``request(i)`` (path, JSON body) to ``upstream`` at ``rate`` per second for
    ``seconds`` (open loop: each sent at its scheduled time, whatever the earlier ones are
    doing); the rate achieved and each POST's latency (from its scheduled send, so a wait for
    one of the ``connections`` counts), each as the staff account stock writes need. A refused
    write ends the run."""
    pool = UpstreamClient(connections_per_upstream=connections)
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    host = pool.host_header(upstream)

    async def post(i: int) -> None:
        path, body = request(i)
        head = [
            b"POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer %s\r\nContent-Length: %d\r\n\r\n"
            % (path.encode(), host, staff_token.encode(), len(body)),
            body,
        ]
        began = loop.time()
        answer = await pool.request("monolith", upstream, "POST", head)
        latencies.append(loop.time() - began)
        if answer.status not in (200, 201):
            raise SystemExit(f"write refused: {answer.status} {answer.body!r}")

    total = int(rate * seconds)
    try:
        start = loop.time()
        posts = []
        for i in range(total):
            delay = start + i / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)  # the schedule itself, not a wait for a condition
            posts.append(loop.create_task(post(i)))
        await asyncio.gather(*posts)
        achieved = total / (loop.time() - start)
    finally:
        await pool.close()
    return achieved, latencies


def _figure(
    args: argparse.Namespace, env: dict[str, str], ports: Ports, logs: Path, staff_token: str
) -> dict[str, Any]:
    monolith = f"http://127.0.0.1:{ports.monolith}"
    skus = [f"SKU-{i:05d}" for i in range(1, args.products + 1)]
    inventory_url = env["INVENTORY_DATABASE_URL"]
    with (
        # The monolith without its per-write INFO lines (the relay logs at INFO: it says ready).
        running(
            _argv("monolith", ports),
            log=logs / "monolith.log",
            env={**env, "DJANGO_LOG_LEVEL": "WARNING"},
        ) as gunicorn,
        running(_argv("worker-inventory", ports), log=logs / "worker.log", env=env) as worker,
        running(_argv("relay", ports), log=logs / "relay.log", env=env) as relay,
    ):
        wait_http(f"{monolith}/health/ready")
        _wait_worker(logs / "worker.log")
        _wait_relay(logs / "relay.log")

        def adjustment(i: int) -> tuple[str, bytes]:
            body = {"delta": 1 if i % 2 else -1, "reason": "bench"}
            path = f"/api/inventory/products/{skus[i % len(skus)]}/adjustments/"
            return path, json.dumps(body).encode()

        meter = _CpuMeter(
            {
                "monolith (gunicorn)": lambda: process_tree(gunicorn.pid),
                "relay": lambda: process_tree(relay.pid),
                "event worker": lambda: process_tree(worker.pid),
                "postgresql backends": lambda: _backend_pids([env["DATABASE_URL"], inventory_url]),
            }
        )
        upstream = Upstream(url=monolith, timeout_s=30)
        window: list[datetime] = []

        async def write() -> tuple[float, list[float]]:
            # One warm-up write: gunicorn's workers and the database connections exist before
            # the meter lists the processes.
            await _post_paced(upstream, 1, 1, adjustment, staff_token=staff_token, connections=1)
            window.append(datetime.now(UTC))
            meter.start()
            return await _post_paced(
                upstream, args.rate, args.seconds, adjustment, staff_token=staff_token
            )

        achieved, write_s = uvloop.run(write())
        window_start = window[0]
        expected = int(args.rate * args.seconds)
        deadline = time.monotonic() + 120
        lags: list[float] = []
        while time.monotonic() < deadline:
            with psycopg.connect(inventory_url) as conn:
                lags = [
                    r[0]
                    for r in conn.execute(
                        "SELECT lag_s FROM processed_events WHERE occurred_at >= %s",
                        (window_start,),
                    )
                ]
            if len(lags) >= expected:
                break
            time.sleep(0.5)
        cpu = meter.stop()
    if len(lags) < expected:
        raise SystemExit(f"only {len(lags)} of {expected} events applied within 120 s")
    return {
        "lag": _percentiles(lags),
        "achieved": achieved,
        "write": _percentiles(write_s),
        "cpu_ms_per_write": {name: round(s * 1000 / expected, 2) for name, s in cpu.items()},
        "stages": _stages(env["DATABASE_URL"], inventory_url, window_start),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--products", type=int, default=200)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args(argv)
    if args.rate <= 0 or args.seconds < 1 or args.products < 1:
        parser.error("--rate must be > 0, --seconds >= 1, --products >= 1")

    logs = Path(os.environ.get("TMPDIR", "/tmp")) / f"relay-lag-{uuid.uuid4().hex[:8]}"
    ports = Ports(free_port(), free_port(), free_port(), free_port())
    env = {
        **os.environ,
        "DATABASE_URL": fresh_postgres(MONOLITH_DB),
        "INVENTORY_DATABASE_URL": fresh_postgres(INVENTORY_DB),
        "CELERY_BROKER_URL": args.redis,
        "STRANGLER_QUEUE_PREFIX": f"bench{uuid.uuid4().hex[:8]}",
        "STRANGLER_VAR_DIR": str(logs / "var"),
        "PYTHONUNBUFFERED": "1",
    }
    manage(env, "migrate", "--noinput")
    manage(env, "seed_inventory", "--products", str(args.products))
    manage(
        env,
        "shell",
        "-c",
        "from monolith.inventory.models import Product; Product.objects.update(on_hand=1000000)",
    )
    # The relay stays pending for the seed's events: mark them published, so the window holds
    # only the bench's writes (setup, not measured).
    manage(
        env,
        "shell",
        "-c",
        "from django.utils import timezone; from monolith.outbox.models import OutboxEvent; "
        "OutboxEvent.objects.update(published_at=timezone.now())",
    )
    migrate = [sys.executable, "-m", "extracted.inventory.migrate"]
    subprocess.run(migrate, env=env, cwd=REPO_ROOT, check=True, capture_output=True)

    baseline = _baseline(args, env, logs)
    staff = manage(env, "issue_token", "bench-stock", "--create", "--staff", "--ttl-s", "86400")
    result = _figure(args, env, ports, logs, staff)
    figure, achieved, stages = result["lag"], result["achieved"], result["stages"]
    ratio = figure["p99_ms"] / baseline["p99_ms"] if baseline["p99_ms"] else float("nan")
    total = int(args.rate * args.seconds)
    load = os.getloadavg()
    write = result["write"]
    print(
        f"writes: {total} through the monolith API at {achieved:.1f}/s (asked {args.rate:g}/s); "
        f"each POST p50 {write['p50_ms']} ms, p99 {write['p99_ms']} ms"
    )
    print(
        f"baseline (empty task, broker round trip): p50 {baseline['p50_ms']} ms, "
        f"p99 {baseline['p99_ms']} ms (n={baseline['n']})"
    )
    print(
        f"commit-to-applied: p50 {figure['p50_ms']} ms, p99 {figure['p99_ms']} ms, "
        f"max {figure['max_ms']} ms (n={figure['n']}); p99 = {ratio:.1f}x the baseline's; "
        f"target p99 <= 250 ms: {'met' if figure['p99_ms'] <= 250 else 'NOT met'}"
    )
    for stage in ("occurred_to_published", "published_to_applied"):
        cut = stages[stage]
        print(
            f"  {stage.replace('_', ' ')}: p50 {cut['p50_ms']} ms, p99 {cut['p99_ms']} ms, "
            f"max {cut['max_ms']} ms"
        )
    print(f"  relay batches: {stages['relay_batches']} ({stages['events_per_batch']} events each)")
    cpu = result["cpu_ms_per_write"]
    print(
        f"CPU ms per write: {', '.join(f'{name} {ms}' for name, ms in cpu.items())}; "
        f"total {sum(cpu.values()):.2f} (load average {load[0]:.1f})"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "when": datetime.now(UTC).isoformat(),
                "rate_asked": args.rate,
                "rate_achieved": round(achieved, 1),
                "seconds": args.seconds,
                "baseline_empty_task": baseline,
                "commit_to_applied": figure,
                "p99_ratio_to_baseline": round(ratio, 2),
                "write_request": write,
                "stages": stages,
                "cpu_ms_per_write": cpu,
                "target_p99_ms": 250,
                "load_average": load,
                "pg_server": PG_SERVER,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"written {RESULTS.relative_to(REPO_ROOT)}")


if __name__ == "__main__":
    main()
