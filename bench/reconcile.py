"""How long does reconciliation take on two 1M-row tables, equal and differing in one row?

    .venv/bin/python -m bench.reconcile --rows 1000000 --rounds 3

Seeds ``--rows`` products into a fresh monolith database and COPYs the same rows into a fresh
inventory database, starts both servers as the stack runs them, and times the reconciliation
driver (sync.reconcile, what `strangler sync reconcile` runs) over their HTTP endpoints:

* **equal**: the two tables as seeded;
* **one row differs**: one row's ``on_hand`` changed behind sync's back in the service (and put
  back after each round); the run must report exactly that row and field.

Baselines from the same run, on the inventory database alone: ``SELECT count(*)`` and a
full-table MD5 of the same canonical row text (``md5(string_agg(... ORDER BY sku))``, the naive
way to checksum one side). Prints medians and ratios; writes ``bench/results/reconcile.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import httpx
import psycopg

from bench.monolith_prep import fresh_postgres, manage
from bench.processes import REPO_ROOT, free_port, running
from bench.products_seed import copy_into, seed_monolith_products
from bench.wrk import wait_http
from contracts.reconcile import ReconciliationReport, pg_product_text
from extracted.inventory import migrate
from strangler.stack import Ports, stack_environment, stack_processes
from sync.reconcile import DEFAULT_LEAF_ROWS, DEFAULT_PARTS, compare
from sync.reconcile_http import MonolithSide, ServiceSide

RESULTS = REPO_ROOT / "bench" / "results" / "reconcile.json"


def _timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def _sql(url: str, statement: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(statement)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--parts", type=int, default=DEFAULT_PARTS)
    parser.add_argument("--leaf-rows", type=int, default=DEFAULT_LEAF_ROWS)
    args = parser.parse_args()

    monolith_url = fresh_postgres("bench_reconcile_mono")
    inventory_url = fresh_postgres("bench_reconcile_inv")
    work = Path(tempfile.mkdtemp(prefix="bench-reconcile-"))
    ports = Ports(free_port(), free_port(), free_port(), free_port())
    env = stack_environment(
        ports,
        base={
            "STRANGLER_VAR_DIR": str(work),
            "DATABASE_URL": monolith_url,
            "INVENTORY_DATABASE_URL": inventory_url,
            "INVENTORY_MIGRATE_ON_START": "0",
        },
    )
    manage(env, "migrate", "--noinput")
    migrate.upgrade(inventory_url)
    print(f"seeding {args.rows:,} products on both sides ...", flush=True)
    copy_into(inventory_url, "products", seed_monolith_products(monolith_url, args.rows))
    _sql(inventory_url, "VACUUM ANALYZE products")

    drifted = f"SKU-{max(1, args.rows * 42 // 100):07d}"  # a row in the middle
    specs = {spec.name: spec for spec in stack_processes(ports)}
    text = pg_product_text()
    baselines = {
        "count(*)": "SELECT count(*) FROM products",
        "full-table md5": f"SELECT md5(string_agg({text}, '' ORDER BY sku)) FROM products",
    }
    timings: dict[str, list[float]] = {"equal": [], "one row differs": []}
    timings.update({name: [] for name in baselines})
    reports: list[ReconciliationReport] = []
    with ExitStack() as stack:
        for name in ("monolith", "inventory"):
            argv = [a for a in specs[name].argv if a not in ("--access-logfile", "-")]
            stack.enter_context(running(argv, log=work / f"{name}.log", env=env))
        for name in ("monolith", "inventory"):
            ready = specs[name].ready_url
            assert ready is not None
            wait_http(ready)
        client = stack.enter_context(httpx.Client())
        source = MonolithSide(env["STRANGLER_MONOLITH_URL"], client)
        target = ServiceSide(env["STRANGLER_INVENTORY_URL"], client)

        def run() -> ReconciliationReport:
            report = compare(source, target, parts=args.parts, leaf_rows=args.leaf_rows)
            reports.append(report)
            return report

        for number in range(args.rounds):
            with psycopg.connect(inventory_url, autocommit=True) as conn:
                for name, query in baselines.items():
                    started = time.perf_counter()
                    conn.execute(query).fetchall()
                    timings[name].append(time.perf_counter() - started)
            timings["equal"].append(_timed(run))
            assert reports[-1].clean, reports[-1]
            _sql(
                inventory_url,
                f"UPDATE products SET on_hand = on_hand + 1 WHERE sku = '{drifted}'",
            )
            timings["one row differs"].append(_timed(run))
            found = reports[-1]
            assert [d.key for d in found.different] == [drifted], found
            assert found.different[0].fields == ["on_hand"] and not found.missing, found
            _sql(
                inventory_url,
                f"UPDATE products SET on_hand = on_hand - 1 WHERE sku = '{drifted}'",
            )
            print(
                f"round {number + 1}: "
                + ", ".join(f"{name} {values[-1]:.2f} s" for name, values in timings.items()),
                flush=True,
            )

    medians = {name: statistics.median(values) for name, values in timings.items()}
    equal = medians["equal"]
    print(f"\n{args.rows:,} rows per side, medians of {args.rounds} round(s):")
    for name, seconds in medians.items():
        print(
            f"{name:<18}{seconds:>8.2f} s   {seconds / equal:>5.2f}x equal   "
            f"{seconds / medians['full-table md5']:>5.2f}x one-side md5"
        )
    print(f"requests per run: equal {reports[0].requests}, one row differs {reports[1].requests}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "rows": args.rows,
                "rounds": args.rounds,
                "parts": args.parts,
                "leaf_rows": args.leaf_rows,
                "medians_s": medians,
                "all_s": timings,
                "one_row_vs_equal": medians["one row differs"] / equal,
                "requests": {"equal": reports[0].requests, "one_row": reports[1].requests},
            },
            indent=2,
        )
    )
    print(f"written {RESULTS.relative_to(REPO_ROOT)}")


if __name__ == "__main__":
    main()
