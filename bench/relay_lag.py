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
  monolith's transaction, so it also counts the commit itself).

Prints p50/p99 of both, the ratio, the write rate achieved, and writes
``bench/results/relay_lag.json``. Target (issue 6): p99 commit-to-applied <= 250 ms at 200/s.

Run: ``.venv/bin/python -m bench.relay_lag [--rate 200] [--seconds 30] [--products 200]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psycopg
import redis

from bench.monolith_prep import PG_SERVER, fresh_postgres, manage
from bench.processes import REPO_ROOT, free_port, running
from bench.wrk import wait_http
from strangler.stack import Ports, stack_processes
from sync.celery_app import make_celery

RESULTS = REPO_ROOT / "bench" / "results" / "relay_lag.json"
MONOLITH_DB = "strangler_bench_relay_mono"
INVENTORY_DB = "strangler_bench_relay_inv"


def _argv(name: str, ports: Ports) -> list[str]:
    return next(list(p.argv) for p in stack_processes(ports) if p.name == name)


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


def _figure(
    args: argparse.Namespace, env: dict[str, str], ports: Ports, logs: Path
) -> tuple[dict[str, float], float]:
    monolith = f"http://127.0.0.1:{ports.monolith}"
    skus = [f"SKU-{i:05d}" for i in range(1, args.products + 1)]
    with (
        # The monolith without its per-write INFO lines (the relay logs at INFO: it says ready).
        running(
            _argv("monolith", ports),
            log=logs / "monolith.log",
            env={**env, "DJANGO_LOG_LEVEL": "WARNING"},
        ),
        running(_argv("worker-inventory", ports), log=logs / "worker.log", env=env),
        running(_argv("relay", ports), log=logs / "relay.log", env=env),
    ):
        wait_http(f"{monolith}/health/ready")
        _wait_worker(logs / "worker.log")
        _wait_relay(logs / "relay.log")
        window_start = datetime.now(UTC)

        local = threading.local()

        def send(i: int) -> None:
            if not hasattr(local, "client"):
                local.client = httpx.Client(base_url=monolith, timeout=30)
            sku = skus[i % len(skus)]
            body = {"delta": 1 if i % 2 else -1, "reason": "bench"}
            response = local.client.post(f"/api/inventory/products/{sku}/adjustments/", json=body)
            if response.status_code not in (200, 201):
                raise SystemExit(f"write refused: {response.status_code} {response.text}")

        achieved = _paced(args.rate, args.seconds, send, threads=32)
        expected = int(args.rate * args.seconds)
        inventory_url = env["INVENTORY_DATABASE_URL"]
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
    if len(lags) < expected:
        raise SystemExit(f"only {len(lags)} of {expected} events applied within 120 s")
    return _percentiles(lags), achieved


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
    figure, achieved = _figure(args, env, ports, logs)
    ratio = figure["p99_ms"] / baseline["p99_ms"] if baseline["p99_ms"] else float("nan")
    total = int(args.rate * args.seconds)
    print(f"writes: {total} through the monolith API at {achieved:.1f}/s (asked {args.rate:g}/s)")
    print(
        f"baseline (empty task, broker round trip): p50 {baseline['p50_ms']} ms, "
        f"p99 {baseline['p99_ms']} ms (n={baseline['n']})"
    )
    print(
        f"commit-to-applied: p50 {figure['p50_ms']} ms, p99 {figure['p99_ms']} ms, "
        f"max {figure['max_ms']} ms (n={figure['n']}); p99 = {ratio:.1f}x the baseline's; "
        f"target p99 <= 250 ms: {'met' if figure['p99_ms'] <= 250 else 'NOT met'}"
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
                "target_p99_ms": 250,
                "load_average": os.getloadavg(),
                "pg_server": PG_SERVER,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"written {RESULTS.relative_to(REPO_ROOT)}")


if __name__ == "__main__":
    main()
