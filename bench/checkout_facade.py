"""The cost of the façade for internal calls: the orders saga's checkout calling the inventory
and payments services directly (the overrides ``ORDERS_INVENTORY_URL`` / ``ORDERS_PAYMENTS_URL``)
vs through the proxy's public port (``STRANGLER_FACADE_URL``, the inventory and payments routes
``extracted`` to the same services), on the same data and machine, in one run.

Two orders services (uvicorn, one process each, their own databases) check out 1 unit of one
product on ``tok_visa`` for one customer, one request at a time (a latency figure, not a
throughput one: no wrk needed), interleaved in ``--rounds`` rounds of ``--checkouts`` each. Each
checkout makes three calls upstream (the price, the reservation, the charge), so the difference
is those calls' extra hop through the proxy. Prints p50 and p99 per side and writes
``bench/results/checkout_facade.json``.

Run: ``.venv/bin/python -m bench.checkout_facade [--rounds 3] [--checkouts 100]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx

from bench.monolith_prep import fresh_postgres, manage
from bench.processes import BENCH_MONOLITH_WORKERS, REPO_ROOT, free_port, running
from bench.wrk import wait_http
from proxy.config_edit import update_route
from strangler.stack import (
    Ports,
    ensure_sync_token,
    stack_environment,
    stack_processes,
    write_routes_file,
)

RESULTS = REPO_ROOT / "bench" / "results" / "checkout_facade.json"
SIDES = ("direct", "facade")
ON_HAND = 2_000_000_000


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--checkouts", type=int, default=100)
    args = parser.parse_args()
    for name in ("rounds", "checkouts"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")

    work = Path(tempfile.mkdtemp(prefix="bench-facade-"))
    var = work / "var"
    var.mkdir()
    ensure_sync_token(var)  # the services load the monolith's revocation list with it
    ports = Ports(*(free_port() for _ in range(6)))
    env = stack_environment(
        ports,
        base={
            **os.environ,
            "STRANGLER_VAR_DIR": str(var),
            "DATABASE_URL": fresh_postgres("strangler_bench_facade_monolith"),
            "INVENTORY_DATABASE_URL": fresh_postgres("strangler_bench_facade_inventory"),
            "PAYMENTS_DATABASE_URL": fresh_postgres("strangler_bench_facade_payments"),
        },
    )
    manage(env, "migrate", "--noinput")
    token = manage(env, "issue_token", "bench-shopper", "--create", "--ttl-s", "86400")
    env["ORDERS_SERVICE_TOKEN"] = manage(
        env, "issue_token", "bench-orders-service", "--create", "--staff", "--ttl-s", "86400"
    )
    routes = Path(env["PROXY_ROUTES_FILE"])
    write_routes_file(routes, ports)
    for route in ("inventory-reads", "inventory-writes", "payments-reads", "payments-writes"):
        update_route(routes, route, actor="bench", mode="extracted")
    specs = {
        spec.name: spec for spec in stack_processes(ports, monolith_workers=BENCH_MONOLITH_WORKERS)
    }
    urls = {
        name: f"http://127.0.0.1:{port}"
        for name, port in (("direct", free_port()), ("facade", free_port()))
    }
    direct_env = {
        **env,
        "ORDERS_DATABASE_URL": fresh_postgres("strangler_bench_facade_orders_direct"),
        "ORDERS_INVENTORY_URL": f"http://127.0.0.1:{ports.inventory}",
        "ORDERS_PAYMENTS_URL": f"http://127.0.0.1:{ports.payments}",
    }
    facade_env = {**env, "ORDERS_DATABASE_URL": fresh_postgres("strangler_bench_facade_orders")}
    orders_argv = list(specs["orders"].argv)
    port_at = orders_argv.index("--port") + 1

    def orders_on(url: str) -> list[str]:
        return [*orders_argv[:port_at], url.rsplit(":", 1)[1], *orders_argv[port_at + 1 :]]

    sku = f"BENCH-{uuid.uuid4().hex[:8]}"
    samples: dict[str, list[float]] = {side: [] for side in SIDES}
    with (
        running(list(specs["monolith"].argv), log=work / "monolith.log", env=env),
        running(list(specs["inventory"].argv), log=work / "inventory.log", env=env),
        running(list(specs["payments"].argv), log=work / "payments.log", env=env),
        running(list(specs["proxy"].argv), log=work / "proxy.log", env=env),
        running(orders_on(urls["direct"]), log=work / "orders-direct.log", env=direct_env),
        running(orders_on(urls["facade"]), log=work / "orders-facade.log", env=facade_env),
    ):
        for spec in ("monolith", "inventory", "payments", "proxy"):
            ready = specs[spec].ready_url
            assert ready is not None
            wait_http(ready)
        for url in urls.values():
            wait_http(f"{url}/health/ready")
        product = {"sku": sku, "name": "Bench mug", "price": "9.99", "on_hand": ON_HAND}
        httpx.post(
            f"http://127.0.0.1:{ports.inventory}/api/inventory/products/",
            json=product,
            headers={"Authorization": f"Bearer {env['ORDERS_SERVICE_TOKEN']}"},  # stock is staff's
            timeout=10,
        ).raise_for_status()
        body = {"lines": [{"sku": sku, "quantity": 1}], "card_token": "tok_visa"}
        auth = {"Authorization": f"Bearer {token}"}
        clients = {
            side: httpx.Client(base_url=urls[side], headers=auth, timeout=30) for side in SIDES
        }
        for side in SIDES:  # warm-up: connections, caches
            for _ in range(10):
                clients[side].post("/api/orders/", json=body).raise_for_status()
        for round_no in range(args.rounds):
            for side in SIDES:
                for _ in range(args.checkouts):
                    started = time.perf_counter()
                    answer = clients[side].post("/api/orders/", json=body)
                    samples[side].append((time.perf_counter() - started) * 1000)
                    if answer.status_code != 201:
                        raise SystemExit(
                            f"{side}: {answer.status_code} {answer.text}; logs in {work}"
                        )
                p50 = statistics.median(samples[side][-args.checkouts :])
                print(f"  round {round_no + 1} {side:7} p50 {p50:6.1f} ms", flush=True)
        for client in clients.values():
            client.close()

    figures = {
        side: {
            "p50_ms": statistics.median(samples[side]),
            "p99_ms": _percentile(samples[side], 0.99),
        }
        for side in SIDES
    }
    print(f"\ncheckout, one at a time, {args.rounds} x {args.checkouts} per side:")
    for side in SIDES:
        p50, p99 = figures[side]["p50_ms"], figures[side]["p99_ms"]
        print(f"  {side:7} p50 {p50:6.1f} ms  p99 {p99:6.1f} ms")
    extra = figures["facade"]["p50_ms"] - figures["direct"]["p50_ms"]
    print(f"  façade - direct: p50 {extra:+.1f} ms")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "benchmark": "checkout_facade",
                "at": datetime.now(UTC).isoformat(),
                "rounds": args.rounds,
                "checkouts": args.checkouts,
                "figures": figures,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {RESULTS.relative_to(REPO_ROOT)}")


if __name__ == "__main__":
    main()
