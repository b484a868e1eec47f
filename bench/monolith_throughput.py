"""How much does the monolith serve? The baseline later figures (services, proxy) compare with.

Starts the monolith exactly as ``strangler/stack.py`` runs it (gunicorn, 2 workers x 4 gthread
threads) on a fresh database — PostgreSQL (real mode, the default) or SQLite (the embedded
default) — migrated and seeded with ``--products`` products (stock raised so no checkout runs
short), then drives with ``wrk``, one connection per monolith thread:

* ``GET /health/live`` — the server's ceiling without database work (the baseline);
* ``GET /api/inventory/products/`` — the first page of 50, with its count;
* ``POST /api/orders/`` — a checkout of one random product by one customer (``bench/lua/
  checkout.lua``): reserve, authorise and capture against the fake gateway, confirm, four outbox
  events, in one transaction.

Prints req/s, p50 and p99 of each and its ratio to the baseline, and writes
``bench/results/monolith_throughput.json``. Every answer must be a 2xx (checked).

Run: ``.venv/bin/python -m bench.monolith_throughput [--database postgres|sqlite]
[--products 100000] [--seconds 10] [--connections 8]``
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from bench.monolith_prep import fresh_postgres, manage
from bench.processes import BENCH_MONOLITH_WORKERS, REPO_ROOT, free_port, running
from bench.wrk import WrkResult, run_wrk, wait_http
from strangler.stack import Ports, stack_processes

RESULTS = REPO_ROOT / "bench" / "results" / "monolith_throughput.json"
CHECKOUT_SCRIPT = REPO_ROOT / "bench" / "lua" / "checkout.lua"
PG_DATABASE = "strangler_bench_monolith"
PLENTY = 1_000_000_000


def _prepare(env: dict[str, str], products: int) -> str:
    """Migrate, seed, raise every product's stock; return a customer's token."""
    manage(env, "migrate", "--noinput")
    manage(env, "seed_inventory", "--products", str(products))
    # Setup only (no events): every checkout of the run must find stock.
    manage(
        env,
        "shell",
        "-c",
        f"from monolith.inventory.models import Product; Product.objects.update(on_hand={PLENTY})",
    )
    return manage(env, "issue_token", "bench-customer", "--create", "--ttl-s", "86400")


def _measure(
    label: str,
    url: str,
    args: argparse.Namespace,
    *,
    script: Path | None = None,
    script_args: Sequence[str] = (),
) -> WrkResult:
    result = run_wrk(
        url,
        seconds=args.seconds,
        connections=args.connections,
        script=script,
        script_args=script_args,
    )
    if result.non_2xx or result.socket_errors:
        raise SystemExit(
            f"{label}: {result.non_2xx} non-2xx, {result.socket_errors} socket errors "
            f"of {result.requests}"
        )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-monolith-"))
    var = work / "var"
    var.mkdir()
    database_url = (
        fresh_postgres(PG_DATABASE)
        if args.database == "postgres"
        else f"sqlite:///{var / 'monolith.sqlite3'}"
    )
    env = {"STRANGLER_VAR_DIR": str(var), "DATABASE_URL": database_url}
    full_env = {**os.environ, **env}
    print(f"preparing {args.database} with {args.products:,} products ...", flush=True)
    token = _prepare(full_env, args.products)

    ports = Ports(free_port(), free_port(), free_port(), free_port())
    monolith = {
        spec.name: spec for spec in stack_processes(ports, monolith_workers=BENCH_MONOLITH_WORKERS)
    }["monolith"]
    argv = [a for a in monolith.argv if a not in ("--access-logfile", "-")]
    base = f"http://127.0.0.1:{ports.monolith}"
    results: dict[str, WrkResult] = {}
    with running(argv, log=work / "monolith.log", env=env):
        wait_http(f"{base}/health/ready")
        run_wrk(f"{base}/api/inventory/products/", seconds=1, connections=args.connections)
        results["GET /health/live"] = _measure("health", f"{base}/health/live", args)
        results["GET /api/inventory/products/"] = _measure(
            "products", f"{base}/api/inventory/products/", args
        )
        results["POST /api/orders/"] = _measure(
            "checkout",
            f"{base}/api/orders/",
            args,
            script=CHECKOUT_SCRIPT,
            script_args=[token, str(args.products)],
        )

    baseline = results["GET /health/live"]
    print(f"\n{args.database}, {args.connections} connections, {args.seconds} s each")
    print(f"{'':<32}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'vs health':>11}")
    for label, r in results.items():
        ratio = r.requests_per_s / baseline.requests_per_s
        print(
            f"{label:<32}{r.requests_per_s:>10,.0f}{r.p50_ms:>10.2f}{r.p99_ms:>10.2f}"
            f"{ratio:>10.2f}x"
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "benchmark": "monolith_throughput",
                "at": datetime.now(UTC).isoformat(),
                "database": args.database,
                "products": args.products,
                "seconds": args.seconds,
                "connections": args.connections,
                "server": "gunicorn 2 workers x 4 gthread threads (strangler/stack.py)",
                "baseline": "GET /health/live",
                "results": {label: r.as_dict() for label, r in results.items()},
                "ratios_to_baseline": {
                    label: r.requests_per_s / baseline.requests_per_s
                    for label, r in results.items()
                },
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {RESULTS.relative_to(REPO_ROOT)}")


if __name__ == "__main__":
    main()
