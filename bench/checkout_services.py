"""Checkout through the services (the orders service's saga) vs through the monolith (one
transaction), on the same data and machine, in one run. Three sides:

* ``monolith``: checkout on the monolith, started exactly as ``strangler/stack.py`` runs it
  (gunicorn, 2 workers x 4 gthread threads).
* ``services``: the orders service (uvicorn, one process) reserving and charging through the
  monolith's inventory and payments endpoints (the stack's default while the monolith owns stock
  and money): three HTTP calls (price, reserve, charge) plus the saga's own writes (saga row
  before each step, the order and its event) against the monolith's single transaction.
* ``all-services``: a second orders service (its own database) with ``ORDERS_INVENTORY_URL`` =
  the extracted inventory service and ``ORDERS_PAYMENTS_URL`` = the extracted payments service
  (one uvicorn process each, as ``strangler/stack.py`` starts them, each on its own fresh
  database): checkout with no monolith on the path at all.

Every process verifies the same customer token with the monolith's public key (the PEM the
monolith writes under ``STRANGLER_VAR_DIR``). The product is loaded into each stock owner through
its own API (``POST /api/inventory/products/`` on the monolith and on the inventory service),
with enough stock for every run. Each side checks out 1 unit of it on ``tok_visa`` for one
customer, with ``wrk`` and ``bench/lua/checkout.lua``, interleaved over ``--rounds`` rounds.

Prints every round, the medians (req/s, p50, p99) and each services side's ratio to the monolith,
checks that every answer was a 201 (wrk's socket errors, its 2 s timeouts included, are printed
per round), and writes ``bench/results/checkout_services.json`` with every round. Then checks the
all-services side for consistency (``bench/checkout_consistency.py``): confirmed orders in the
orders service = units reserved or committed in the inventory service = captured payments in the
payments service, each read through its owner's API, and equal to the answers wrk counted on
that side (warm-up included; more by at most its socket errors and the requests in flight when
each run stopped); a mismatch exits non-zero.

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
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path

import httpx

from bench.checkout_consistency import read_counts, settled_counts
from bench.monolith_prep import fresh_postgres, manage
from bench.processes import BENCH_MONOLITH_WORKERS, REPO_ROOT, free_port, running
from bench.wrk import WrkResult, run_wrk, wait_http
from strangler.stack import Ports, stack_processes

RESULTS = REPO_ROOT / "bench" / "results" / "checkout_services.json"
SCRIPT = REPO_ROOT / "bench" / "lua" / "checkout.lua"
SIDES = ("monolith", "services", "all-services")
#: Stock loaded into each owner: more than any run can check out.
ON_HAND = 2_000_000_000
WARM_UP_CONNECTIONS = 2


def _median(rounds: list[WrkResult], field: str) -> float:
    return float(statistics.median(getattr(r, field) for r in rounds))


def _load_product(base_url: str, sku: str, staff_token: str) -> None:
    """Create the bench's product through the stock owner's own API (monolith or service), as
    the staff account stock writes need."""
    created = httpx.post(
        f"{base_url}/api/inventory/products/",
        json={"sku": sku, "name": "Bench mug", "price": "9.99", "on_hand": ON_HAND},
        headers={"Authorization": f"Bearer {staff_token}"},
        timeout=10,
    )
    created.raise_for_status()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args()
    for name in ("rounds", "seconds", "connections"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")

    work = Path(tempfile.mkdtemp(prefix="bench-checkout-"))
    var = work / "var"
    var.mkdir()
    env = {
        "STRANGLER_VAR_DIR": str(var),
        "DATABASE_URL": fresh_postgres("strangler_bench_checkout_monolith"),
        "ORDERS_DATABASE_URL": fresh_postgres("strangler_bench_checkout_orders"),
        "INVENTORY_DATABASE_URL": fresh_postgres("strangler_bench_checkout_inventory"),
        "PAYMENTS_DATABASE_URL": fresh_postgres("strangler_bench_checkout_payments"),
    }
    full_env = {**os.environ, **env}
    manage(full_env, "migrate", "--noinput")
    token = manage(full_env, "issue_token", "bench-shopper", "--create", "--ttl-s", "86400")
    service_token = manage(
        full_env, "issue_token", "bench-orders-service", "--create", "--staff", "--ttl-s", "86400"
    )

    ports = Ports(
        monolith=free_port(),
        inventory=free_port(),
        proxy=free_port(),
        admin=free_port(),
        payments=free_port(),
        orders=free_port(),
    )
    specs = {
        spec.name: spec for spec in stack_processes(ports, monolith_workers=BENCH_MONOLITH_WORKERS)
    }
    # The second orders service: the same process spec on a port of its own.
    orders_all_port = free_port()
    orders_all_spec = next(
        spec
        for spec in stack_processes(
            replace(ports, orders=orders_all_port), monolith_workers=BENCH_MONOLITH_WORKERS
        )
        if spec.name == "orders"
    )
    monolith_argv = [a for a in specs["monolith"].argv if a not in ("--access-logfile", "-")]
    monolith_url = f"http://127.0.0.1:{ports.monolith}"
    inventory_url = f"http://127.0.0.1:{ports.inventory}"
    payments_url = f"http://127.0.0.1:{ports.payments}"
    orders_url = f"http://127.0.0.1:{ports.orders}"
    orders_all_url = f"http://127.0.0.1:{orders_all_port}"
    orders_env = {
        **env,
        "ORDERS_INVENTORY_URL": monolith_url,
        "ORDERS_PAYMENTS_URL": monolith_url,
        "ORDERS_SERVICE_TOKEN": service_token,
    }
    orders_all_env = {
        **env,
        "ORDERS_DATABASE_URL": fresh_postgres("strangler_bench_checkout_orders_all"),
        "ORDERS_INVENTORY_URL": inventory_url,
        "ORDERS_PAYMENTS_URL": payments_url,
        "ORDERS_SERVICE_TOKEN": service_token,
    }
    sku = f"BENCH-{uuid.uuid4().hex[:8]}"
    rounds: dict[str, list[WrkResult]] = {side: [] for side in SIDES}
    with (
        running(monolith_argv, log=work / "monolith.log", env=env),
        running(list(specs["inventory"].argv), log=work / "inventory.log", env=env),
        running(list(specs["payments"].argv), log=work / "payments.log", env=env),
        running(list(specs["orders"].argv), log=work / "orders.log", env=orders_env),
        running(list(orders_all_spec.argv), log=work / "orders-all.log", env=orders_all_env),
    ):
        for base_url in (monolith_url, inventory_url, payments_url, orders_url, orders_all_url):
            wait_http(f"{base_url}/health/ready")
        _load_product(monolith_url, sku, service_token)
        _load_product(inventory_url, sku, service_token)
        urls = {
            "monolith": f"{monolith_url}/api/orders/",
            "services": f"{orders_url}/api/orders/",
            "all-services": f"{orders_all_url}/api/orders/",
        }
        warm_ups: dict[str, WrkResult] = {}
        for side, url in urls.items():
            warm = run_wrk(
                url,
                seconds=1,
                connections=WARM_UP_CONNECTIONS,
                script=SCRIPT,
                script_args=[token, sku],
            )
            if warm.non_2xx:
                sys.exit(f"{side} (warm-up): {warm.non_2xx} answers were not 201; logs in {work}")
            warm_ups[side] = warm
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
                    sys.exit(f"{side}: {result.non_2xx} answers were not 201; logs in {work}")
                rounds[side].append(result)
                print(
                    f"  {side:12} {result.requests_per_s:8.1f} req/s  p50 {result.p50_ms:7.1f} ms"
                    f"  p99 {result.p99_ms:7.1f} ms  socket errors (wrk's 2 s timeouts"
                    f" included) {result.socket_errors}",
                    flush=True,
                )
        counts = settled_counts(
            lambda: read_counts(
                orders_url=orders_all_url,
                inventory_url=inventory_url,
                payments_url=payments_url,
                sku=sku,
                loaded_on_hand=ON_HAND,
                shopper_token=token,
                service_token=service_token,
            )
        )

    medians = {
        side: {f: _median(rounds[side], f) for f in ("requests_per_s", "p50_ms", "p99_ms")}
        for side in SIDES
    }
    base = medians["monolith"]
    print(f"\ncheckout, {args.connections} connections, median of {args.rounds} rounds:")
    for side in SIDES:
        m = medians[side]
        print(
            f"  {side:12} {m['requests_per_s']:8.1f} req/s  p50 {m['p50_ms']:7.1f} ms"
            f"  p99 {m['p99_ms']:7.1f} ms"
        )
    for side in SIDES[1:]:
        svc = medians[side]
        print(
            f"  {side} / monolith: throughput"
            f" x{svc['requests_per_s'] / base['requests_per_s']:.2f}"
            f", p50 x{svc['p50_ms'] / base['p50_ms']:.2f}"
            f", p99 x{svc['p99_ms'] / base['p99_ms']:.2f}"
        )
    # What wrk saw on the all-services side: every answer it counted must be a confirmed order;
    # a request it gave up on (a socket error) or left in flight when its time was up (at most
    # one per connection per run, never counted) may or may not have become one.
    seen = [warm_ups["all-services"], *rounds["all-services"]]
    answered = sum(r.requests for r in seen)
    lost = sum(r.socket_errors for r in seen) + WARM_UP_CONNECTIONS + args.connections * args.rounds
    matches_wrk = answered <= counts.confirmed_orders <= answered + lost
    print(
        f"\nall-services consistency: {counts.confirmed_orders} confirmed orders (orders service),"
        f" {counts.units_taken} units reserved or committed (inventory service),"
        f" {counts.captured_payments} captured payments (payments service):"
        f" {'agree' if counts.agree else 'DISAGREE'}; wrk counted {answered} answers"
        f" (+ up to {lost} uncounted): {'consistent' if matches_wrk else 'INCONSISTENT'}"
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
                "all_services_consistency": {
                    **asdict(counts),
                    "agree": counts.agree,
                    "wrk_answers": answered,
                    "wrk_uncounted_at_most": lost,
                    "matches_wrk": matches_wrk,
                },
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {RESULTS.relative_to(REPO_ROOT)}")
    if not (counts.agree and matches_wrk):
        sys.exit(f"all-services: the counts disagree; logs in {work}")


if __name__ == "__main__":
    main()
