"""How long does reconciliation take on two 1M-row tables, equal and differing in one row?

    .venv/bin/python -m bench.reconcile --rows 1000000 --rounds 3
    .venv/bin/python -m bench.reconcile --aggregate payments --rows 100000 --rounds 3

Seeds ``--rows`` rows into a fresh monolith database and the same rows into a fresh database of
their owner, starts both servers as the stack runs them, and times the reconciliation driver
(sync.control.reconcile, what `strangler sync reconcile` runs) over their HTTP endpoints:

* **equal**: the two tables as seeded;
* **one row differs**: one row changed behind sync's back in the service (and put back after each
  round); the run must report exactly that row and field.

``--aggregate products`` (the default): products COPYed into the inventory database, a product's
``on_hand`` changed. ``--aggregate payments``: payments with refunds (every third payment has two;
bench/payments_seed.py) in the payments database, one refund's amount changed, which must show as
its payment's field ``refunds``: the cost of folding child rows into the parent's text.

Baselines from the same run, on the service's database alone: ``SELECT count(*)`` and a
full-table MD5 of the same canonical row text (``md5(string_agg(... ORDER BY key))``, the naive
way to checksum one side). Prints medians and ratios; writes ``bench/results/reconcile.json``
(``reconcile_payments.json`` for payments).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import secrets
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg

from bench.monolith_prep import fresh_postgres, manage
from bench.payments_seed import seed_payments
from bench.processes import BENCH_MONOLITH_WORKERS, REPO_ROOT, free_port, running
from bench.products_seed import copy_into, seed_monolith_products
from bench.wrk import wait_http
from contracts.reconcile import ReconciliationReport
from contracts.sync_token import SYNC_TOKEN_ENV
from extracted.inventory import migrate as inventory_migrate
from extracted.payments import migrate as payments_migrate
from protocol.reconcile_spec import PAYMENTS, PRODUCTS
from protocol.reconcile_sql import Queries, Storage
from strangler.stack import Ports, stack_environment, stack_processes
from sync.control.reconcile import DEFAULT_LEAF_ROWS, DEFAULT_PARTS, compare
from sync.control.reconcile_http import MonolithSide, ServiceSide

RESULTS = REPO_ROOT / "bench" / "results"


def _timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def _sql(url: str, statement: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(statement)


@dataclass(frozen=True)
class Case:
    """One aggregate's bench: its owner, how both sides are seeded, the one-row drift."""

    aggregate: str
    service: str
    #: (monolith database URL, service database URL, rows) -> the seeded rows on both sides.
    seed: Callable[[str, str, int], None]
    #: The key of the row that drifts, among ``rows``.
    drifted: Callable[[int], str]
    #: SQL on the service's database that makes that row drift, and that puts it back.
    drift: str
    undo: str
    fields: list[str]
    baselines: dict[str, str]
    results: str


def _seed_products(monolith_url: str, service_url: str, rows: int) -> None:
    copy_into(service_url, "products", seed_monolith_products(monolith_url, rows))
    _sql(service_url, "VACUUM ANALYZE products")


def _seed_payments(monolith_url: str, service_url: str, rows: int) -> None:
    seed_payments(monolith_url, "payments_payment", "payments_refund", rows)
    seed_payments(service_url, "payments", "refunds", rows)


def _payment_with_refunds(rows: int) -> str:
    """A payment in the middle that has refunds (bench/payments_seed.py: every third)."""
    i = max(3, rows * 42 // 100 // 3 * 3)
    return str(uuid.UUID(hashlib.md5(f"p{i}".encode()).hexdigest()))


_PAYMENTS_TEXT = Queries(PAYMENTS, Storage("payments", "refunds"), "postgresql", "%({})s".format)

CASES = {
    "products": Case(
        aggregate="products",
        service="inventory",
        seed=_seed_products,
        drifted=lambda rows: f"SKU-{max(1, rows * 42 // 100):07d}",  # a row in the middle
        drift="UPDATE products SET on_hand = on_hand + 1 WHERE sku = '{key}'",
        undo="UPDATE products SET on_hand = on_hand - 1 WHERE sku = '{key}'",
        fields=["on_hand"],
        baselines={
            "count(*)": "SELECT count(*) FROM products",
            "full-table md5": f"SELECT md5(string_agg({PRODUCTS.pg()}, '' ORDER BY sku)) "
            "FROM products",
        },
        results="reconcile.json",
    ),
    "payments": Case(
        aggregate="payments",
        service="payments",
        seed=_seed_payments,
        drifted=_payment_with_refunds,
        drift="UPDATE refunds SET amount = amount + 0.01 WHERE payment_id = '{key}' "
        "AND amount = 5.00",
        undo="UPDATE refunds SET amount = amount - 0.01 WHERE payment_id = '{key}' "
        "AND amount = 5.01",
        fields=["refunds"],
        baselines={
            "count(*)": "SELECT count(*) FROM payments",
            # The rows query over the whole table (refunds joined), hashed in one string.
            "full-table md5": "SELECT md5(string_agg(t, '' ORDER BY k)) FROM "
            f"({_PAYMENTS_TEXT.rows(None, None, 2**62).sql}) r(k, v, t)",
        },
        results="reconcile_payments.json",
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--aggregate", choices=sorted(CASES), default="products")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--parts", type=int, default=DEFAULT_PARTS)
    parser.add_argument("--leaf-rows", type=int, default=DEFAULT_LEAF_ROWS)
    args = parser.parse_args()
    case = CASES[args.aggregate]
    service = case.service
    owner = service.upper()

    monolith_url = fresh_postgres("bench_reconcile_mono")
    service_url = fresh_postgres(f"bench_reconcile_{service[:3]}")
    work = Path(tempfile.mkdtemp(prefix="bench-reconcile-"))
    ports = Ports(free_port(), free_port(), free_port(), free_port())
    env = stack_environment(
        ports,
        base={
            "STRANGLER_VAR_DIR": str(work),
            "DATABASE_URL": monolith_url,
            f"{owner}_DATABASE_URL": service_url,
            f"{owner}_MIGRATE_ON_START": "0",
        },
    )
    # The sync token the servers take and the driver sends (every reconcile endpoint needs it):
    # the servers inherit this process's environment, where the driver reads it.
    os.environ.setdefault(SYNC_TOKEN_ENV, secrets.token_urlsafe(32))
    manage(env, "migrate", "--noinput")
    (inventory_migrate if service == "inventory" else payments_migrate).upgrade(service_url)
    print(f"seeding {args.rows:,} {case.aggregate} on both sides ...", flush=True)
    case.seed(monolith_url, service_url, args.rows)

    drifted = case.drifted(args.rows)
    specs = {
        spec.name: spec for spec in stack_processes(ports, monolith_workers=BENCH_MONOLITH_WORKERS)
    }
    baselines = case.baselines
    timings: dict[str, list[float]] = {"equal": [], "one row differs": []}
    timings.update({name: [] for name in baselines})
    reports: list[ReconciliationReport] = []
    with ExitStack() as stack:
        for name in ("monolith", service):
            argv = [a for a in specs[name].argv if a not in ("--access-logfile", "-")]
            stack.enter_context(running(argv, log=work / f"{name}.log", env=env))
        for name in ("monolith", service):
            ready = specs[name].ready_url
            assert ready is not None
            wait_http(ready)
        client = stack.enter_context(httpx.Client())
        source = MonolithSide(env["STRANGLER_MONOLITH_URL"], client, case.aggregate)
        target = ServiceSide(env[f"STRANGLER_{owner}_URL"], client, case.aggregate)

        def run() -> ReconciliationReport:
            report = compare(
                source,
                target,
                aggregate=case.aggregate,
                parts=args.parts,
                leaf_rows=args.leaf_rows,
            )
            reports.append(report)
            return report

        for number in range(args.rounds):
            with psycopg.connect(service_url, autocommit=True) as conn:
                for name, query in baselines.items():
                    started = time.perf_counter()
                    conn.execute(query).fetchall()
                    timings[name].append(time.perf_counter() - started)
            timings["equal"].append(_timed(run))
            assert reports[-1].clean, reports[-1]
            _sql(service_url, case.drift.format(key=drifted))
            timings["one row differs"].append(_timed(run))
            found = reports[-1]
            assert [d.key for d in found.different] == [drifted], found
            assert found.different[0].fields == case.fields and not found.missing, found
            _sql(service_url, case.undo.format(key=drifted))
            print(
                f"round {number + 1}: "
                + ", ".join(f"{name} {values[-1]:.2f} s" for name, values in timings.items()),
                flush=True,
            )

    medians = {name: statistics.median(values) for name, values in timings.items()}
    equal = medians["equal"]
    print(f"\n{args.rows:,} {case.aggregate} per side, medians of {args.rounds} round(s):")
    for name, seconds in medians.items():
        print(
            f"{name:<18}{seconds:>8.2f} s   {seconds / equal:>5.2f}x equal   "
            f"{seconds / medians['full-table md5']:>5.2f}x one-side md5"
        )
    print(f"requests per run: equal {reports[0].requests}, one row differs {reports[1].requests}")
    results = RESULTS / case.results
    RESULTS.mkdir(parents=True, exist_ok=True)
    results.write_text(
        json.dumps(
            {
                "aggregate": case.aggregate,
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
    print(f"written {results.relative_to(REPO_ROOT)}")


if __name__ == "__main__":
    main()
