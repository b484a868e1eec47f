"""Checkout through the services (the orders service's saga) vs through the monolith (one
transaction), on the same data and machine, in one run.

Starts the monolith exactly as ``strangler/stack.py`` runs it (gunicorn, 2 workers x 4 gthread
threads) and the orders service (uvicorn, one process) on fresh PostgreSQL databases. The orders
service reserves and charges through the monolith's inventory and payments endpoints (the stack's
default while the monolith owns stock and money), so the difference measured is the saga's:
three HTTP calls (price, reserve, charge) plus its own writes (saga row before each step, the
order and its event) against the monolith's single transaction. Both sides check out 1 unit of
one product (enough stock for every run) on ``tok_visa`` for one customer, with ``wrk`` and
``bench/lua/checkout.lua``, interleaved over ``--rounds`` rounds.

Prints the medians (req/s, p50, p99) and the services' ratio to the monolith, checks that every
answer was a 201 (wrk's socket errors, its 2 s timeouts included, are printed per round), and
writes ``bench/results/checkout_services.json`` with every round.

Run: ``.venv/bin/python -m bench.checkout_services [--rounds 3] [--seconds 8]
[--connections 8]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx

from bench.monolith_prep import fresh_postgres, manage
from bench.processes import REPO_ROOT, free_port, running
from bench.wrk import WrkResult, run_wrk, wait_http
from strangler.stack import Ports, stack_processes

RESULTS = REPO_ROOT / "bench" / "results" / "checkout_services.json"
SCRIPT = REPO_ROOT / "bench" / "lua" / "checkout.lua"
SIDES = ("monolith", "services")


def _median(rounds: list[WrkResult], field: str) -> float:
    return float(statistics.median(getattr(r, field) for r in rounds))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-checkout-"))
    var = work / "var"
    var.mkdir()
    env = {
        "STRANGLER_VAR_DIR": str(var),
        "DATABASE_URL": fresh_postgres("strangler_bench_checkout_monolith"),
        "ORDERS_DATABASE_URL": fresh_postgres("strangler_bench_checkout_orders"),
    }
    full_env = {**os.environ, **env}
    manage(full_env, "migrate", "--noinput")
    token = manage(full_env, "issue_token", "bench-shopper", "--create", "--ttl-s", "86400")
    service_token = manage(
        full_env, "issue_token", "bench-orders-service", "--create", "--staff", "--ttl-s", "86400"
    )

    ports = Ports(free_port(), free_port(), free_port(), free_port(), free_port())
    specs = {spec.name: spec for spec in stack_processes(ports)}
    monolith_argv = [a for a in specs["monolith"].argv if a not in ("--access-logfile", "-")]
    monolith_url = f"http://127.0.0.1:{ports.monolith}"
    orders_url = f"http://127.0.0.1:{ports.orders}"
    orders_env = {
        **env,
        "ORDERS_INVENTORY_URL": monolith_url,
        "ORDERS_PAYMENTS_URL": monolith_url,
        "ORDERS_SERVICE_TOKEN": service_token,
    }
    sku = f"BENCH-{uuid.uuid4().hex[:8]}"
    rounds: dict[str, list[WrkResult]] = {side: [] for side in SIDES}
    with (
        running(monolith_argv, log=work / "monolith.log", env=env),
        running(list(specs["orders"].argv), log=work / "orders.log", env=orders_env),
    ):
        wait_http(f"{monolith_url}/health/ready")
        wait_http(f"{orders_url}/health/ready")
        created = httpx.post(
            f"{monolith_url}/api/inventory/products/",
            json={"sku": sku, "name": "Bench mug", "price": "9.99", "on_hand": 2_000_000_000},
            timeout=10,
        )
        created.raise_for_status()
        urls = {"monolith": f"{monolith_url}/api/orders/", "services": f"{orders_url}/api/orders/"}
        for url in urls.values():  # warm-up
            run_wrk(url, seconds=1, connections=2, script=SCRIPT, script_args=[token, sku])
        for _ in range(args.rounds):
            for side in SIDES:
                result = run_wrk(
                    urls[side],
                    seconds=args.seconds,
                    connections=args.connections,
                    script=SCRIPT,
                    script_args=[token, sku],
                )
                if result.non_2xx:
                    sys.exit(f"{side}: {result.non_2xx} answers were not 201")
                rounds[side].append(result)
                print(
                    f"  {side:9} {result.requests_per_s:8.1f} req/s  p50 {result.p50_ms:7.1f} ms"
                    f"  p99 {result.p99_ms:7.1f} ms  socket errors (wrk's 2 s timeouts"
                    f" included) {result.socket_errors}",
                    flush=True,
                )

    medians = {
        side: {f: _median(rounds[side], f) for f in ("requests_per_s", "p50_ms", "p99_ms")}
        for side in SIDES
    }
    base, svc = medians["monolith"], medians["services"]
    print(f"\ncheckout, {args.connections} connections, median of {args.rounds} rounds:")
    for side in SIDES:
        m = medians[side]
        print(
            f"  {side:9} {m['requests_per_s']:8.1f} req/s  p50 {m['p50_ms']:7.1f} ms"
            f"  p99 {m['p99_ms']:7.1f} ms"
        )
    print(
        f"  services / monolith: throughput x{svc['requests_per_s'] / base['requests_per_s']:.2f}"
        f", p50 x{svc['p50_ms'] / base['p50_ms']:.2f}, p99 x{svc['p99_ms'] / base['p99_ms']:.2f}"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "benchmark": "checkout_services",
                "at": datetime.now(UTC).isoformat(),
                "connections": args.connections,
                "seconds": args.seconds,
                "medians": medians,
                "rounds": {side: [r.as_dict() for r in rounds[side]] for side in SIDES},
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {RESULTS.relative_to(REPO_ROOT)}")


if __name__ == "__main__":
    main()
