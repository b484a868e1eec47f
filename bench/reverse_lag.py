"""Reverse sync lag at a steady write rate: commit in the inventory service to applied in the
monolith (the service is the source: direction ``reverse``).

The mirror of ``bench.relay_lag``: the inventory service (uvicorn) on a fresh PostgreSQL
database, the service relay (``python -m sync.service_relay inventory``: LISTEN/NOTIFY) and the
monolith's worker (``celery -A sync.monolith_worker``, as ``strangler up`` runs it) writing a
fresh monolith database, with Redis as the broker. Then:

* baseline: ``--rate`` empty Celery tasks per second through the same broker (``bench.relay_lag``'s
  broker round trip, same code);
* figure: ``--rate`` stock adjustments per second (open loop) through the service's HTTP API for
  ``--seconds``; each one's commit-to-applied latency is the monolith's inbox ``lag_s``
  (applied_at minus the occurred_at stamped inside the service's transaction).

Prints p50/p99 of both and the ratio, writes ``bench/results/reverse_lag.json``.

Run: ``.venv/bin/python -m bench.reverse_lag [--rate 200] [--seconds 30] [--products 200]
[--concurrency N]``
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psycopg

from bench.monolith_prep import PG_SERVER, fresh_postgres, manage
from bench.processes import REPO_ROOT, free_port, running
from bench.relay_lag import _argv, _baseline, _paced, _percentiles, _wait_relay, _wait_worker
from bench.wrk import wait_http
from strangler.stack import Ports, service_relay_argv

RESULTS = REPO_ROOT / "bench" / "results" / "reverse_lag.json"
MONOLITH_DB = "strangler_bench_reverse_mono"
INVENTORY_DB = "strangler_bench_reverse_inv"


def _worker_argv(ports: Ports, concurrency: int | None) -> list[str]:
    """The stack's monolith worker, with ``--concurrency`` overridden when asked (to see how
    far more threads move the figure; the stack runs its own setting)."""
    argv = _argv("worker-monolith", ports)
    if concurrency is not None:
        argv[argv.index("--concurrency") + 1] = str(concurrency)
    return argv


def _applied(monolith_url: str, since: datetime) -> list[float]:
    with psycopg.connect(monolith_url) as conn:
        return [
            r[0]
            for r in conn.execute(
                "SELECT lag_s FROM reverse_sync_inboxevent WHERE occurred_at >= %s", (since,)
            )
        ]


def _figure(
    args: argparse.Namespace, env: dict[str, str], ports: Ports, logs: Path, staff_token: str
) -> tuple[dict[str, float], float]:
    service = f"http://127.0.0.1:{ports.inventory}"
    with (
        running(_argv("inventory", ports), log=logs / "inventory.log", env=env),
        running(_worker_argv(ports, args.concurrency), log=logs / "worker.log", env=env),
        running(list(service_relay_argv("inventory")), log=logs / "relay.log", env=env),
    ):
        wait_http(f"{service}/health/ready")
        _wait_worker(logs / "worker.log")
        _wait_relay(logs / "relay.log")
        # Setup, not measured: the products, created on the source, flow back first.
        setup_start = datetime.now(UTC)
        skus = [f"REV-{uuid.uuid4().hex[:10]}" for _ in range(args.products)]
        staff = {"Authorization": f"Bearer {staff_token}"}  # stock writes need a staff account
        with httpx.Client(base_url=service, headers=staff, timeout=30) as client:
            for sku in skus:
                body = {"sku": sku, "name": sku, "price": "1.00", "on_hand": 1_000_000}
                assert client.post("/api/inventory/products/", json=body).status_code == 201
        deadline = time.monotonic() + 120
        while len(_applied(env["DATABASE_URL"], setup_start)) < len(skus):
            if time.monotonic() > deadline:
                raise SystemExit("the products did not reach the monolith within 120 s")
            time.sleep(0.5)
        window_start = datetime.now(UTC)
        local = threading.local()

        def send(i: int) -> None:
            if not hasattr(local, "client"):
                local.client = httpx.Client(base_url=service, headers=staff, timeout=30)
            sku = skus[i % len(skus)]
            body = {"delta": 1 if i % 2 else -1, "reason": "bench"}
            response = local.client.post(f"/api/inventory/products/{sku}/adjustments/", json=body)
            if response.status_code != 200:
                raise SystemExit(f"write refused: {response.status_code} {response.text}")

        achieved = _paced(args.rate, args.seconds, send, threads=32)
        expected = int(args.rate * args.seconds)
        deadline = time.monotonic() + 120
        lags: list[float] = []
        while time.monotonic() < deadline:
            lags = _applied(env["DATABASE_URL"], window_start)
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
    parser.add_argument(
        "--concurrency", type=int, default=None, help="monolith worker threads (default: stack's)"
    )
    args = parser.parse_args(argv)
    if args.rate <= 0 or args.seconds < 1 or args.products < 1:
        parser.error("--rate must be > 0, --seconds >= 1, --products >= 1")

    logs = Path(os.environ.get("TMPDIR", "/tmp")) / f"reverse-lag-{uuid.uuid4().hex[:8]}"
    ports = Ports(free_port(), free_port(), free_port(), free_port())
    env = {
        **os.environ,
        "DATABASE_URL": fresh_postgres(MONOLITH_DB),
        "INVENTORY_DATABASE_URL": fresh_postgres(INVENTORY_DB),
        "INVENTORY_MIGRATE_ON_START": "0",
        "CELERY_BROKER_URL": args.redis,
        "STRANGLER_QUEUE_PREFIX": f"bench{uuid.uuid4().hex[:8]}",
        "STRANGLER_VAR_DIR": str(logs / "var"),
        "PYTHONUNBUFFERED": "1",
    }
    manage(env, "migrate", "--noinput")
    migrate = [sys.executable, "-m", "extracted.inventory.migrate"]
    subprocess.run(migrate, env=env, cwd=REPO_ROOT, check=True, capture_output=True)
    # The service is the source (what step 8's switch leaves; set directly: setup, not measured).
    with psycopg.connect(env["INVENTORY_DATABASE_URL"]) as conn:
        conn.execute("UPDATE sync_direction SET direction = 'reverse'")
    with psycopg.connect(env["DATABASE_URL"]) as conn:
        conn.execute(
            "UPDATE reverse_sync_capabilitydirection SET direction = 'reverse' "
            "WHERE capability = 'inventory'"
        )

    baseline = _baseline(args, env, logs)
    staff = manage(env, "issue_token", "bench-stock", "--create", "--staff", "--ttl-s", "86400")
    figure, achieved = _figure(args, env, ports, logs, staff)
    ratio = figure["p99_ms"] / baseline["p99_ms"] if baseline["p99_ms"] else float("nan")
    total = int(args.rate * args.seconds)
    print(f"writes: {total} through the service API at {achieved:.1f}/s (asked {args.rate:g}/s)")
    print(
        f"baseline (empty task, broker round trip): p50 {baseline['p50_ms']} ms, "
        f"p99 {baseline['p99_ms']} ms (n={baseline['n']})"
    )
    print(
        f"commit-to-applied (service -> monolith): p50 {figure['p50_ms']} ms, "
        f"p99 {figure['p99_ms']} ms, max {figure['max_ms']} ms (n={figure['n']}); "
        f"p99 = {ratio:.1f}x the baseline's"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "when": datetime.now(UTC).isoformat(),
                "rate_asked": args.rate,
                "rate_achieved": round(achieved, 1),
                "seconds": args.seconds,
                "monolith_worker_concurrency": args.concurrency,
                "baseline_empty_task": baseline,
                "commit_to_applied": figure,
                "p99_ratio_to_baseline": round(ratio, 2),
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
