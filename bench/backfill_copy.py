"""How fast does the backfill copy products, against a raw ``COPY`` of the same rows?

    .venv/bin/python -m bench.backfill_copy --rows 1000000 --rounds 2

Seeds ``--rows`` products into a fresh monolith database (server-side ``generate_series``), then
per round, on a fresh inventory database's ``products`` table:

* **raw COPY** (the baseline): the rows, already in memory as COPY text, written with
  ``COPY products FROM STDIN`` in one transaction: the fastest a client can load that table.
* **backfill** through the real path: a Celery worker for each side (Redis broker), the first
  page request sent as `strangler sync backfill` sends it, timed until the owner's checkpoint
  says done. Variants: ``copy`` (COPY text pages, the bulk path) and ``json`` (state dicts), at
  ``--page-size`` rows per page.

Prints rows/s per variant and its ratio to the raw COPY of the same round (medians over rounds),
and writes ``bench/results/backfill_copy.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path

import psycopg
from celery import Celery

from bench.monolith_prep import PG_SERVER, fresh_postgres, manage
from bench.processes import REPO_ROOT, running
from bench.products_seed import copy_into, seed_monolith_products
from extracted.inventory import migrate
from sync.backfill import jobs_named, start_backfills
from sync.stats import SyncStats

RESULTS = REPO_ROOT / "bench" / "results" / "backfill_copy.json"
REDIS = "redis://127.0.0.1:6379/0"
#: Worker logs and the var folder of the run (printed at the start).
WORK = Path(tempfile.mkdtemp(prefix="bench-backfill-"))
LOGS = WORK / "logs"


@dataclass
class Round:
    variant: str
    rows: int
    seconds: float

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds


def _env(monolith_url: str, inventory_url: str, prefix: str) -> dict[str, str]:
    return {
        "DATABASE_URL": monolith_url,
        "INVENTORY_DATABASE_URL": inventory_url,
        "CELERY_BROKER_URL": REDIS,
        "STRANGLER_QUEUE_PREFIX": prefix,
        "STRANGLER_VAR_DIR": str(WORK / "var"),
        "DJANGO_SETTINGS_MODULE": "monolith.settings",
        "PYTHONPATH": str(REPO_ROOT),
    }


def _worker(side: str, env: dict[str, str], stack: ExitStack, concurrency: int) -> None:
    argv = [
        str(Path(sys.executable).with_name("celery")),
        "-A",
        f"sync.{side}_worker",
        "worker",
        "-n",
        f"bench-{side}-{uuid.uuid4().hex[:6]}@%h",
        "--pool",
        "threads",
        "--concurrency",
        str(concurrency),
        "--loglevel",
        "INFO",
    ]
    log = LOGS / f"backfill-{side}-{uuid.uuid4().hex[:6]}.log"
    stack.enter_context(running(argv, log=log, env=env))
    deadline = time.monotonic() + 60
    while " ready." not in (log.read_text(errors="replace") if log.exists() else ""):
        if time.monotonic() > deadline:
            raise SystemExit(f"the {side} worker did not start; see {log}")
        time.sleep(0.1)


def _empty_products(inventory_url: str) -> None:
    with psycopg.connect(inventory_url, autocommit=True) as conn:
        conn.execute("TRUNCATE products, backfill_checkpoints")
        conn.execute("CHECKPOINT")


def _raw_copy(inventory_url: str, text: str, rows: int) -> Round:
    _empty_products(inventory_url)
    started = time.perf_counter()
    copy_into(inventory_url, "products", text)
    return Round("raw COPY", rows, time.perf_counter() - started)


def _checkpoint_done(inventory_url: str) -> tuple[bool, int]:
    with psycopg.connect(inventory_url) as conn:
        row = conn.execute(
            "SELECT done, rows FROM backfill_checkpoints WHERE job = 'products'"
        ).fetchone()
    return (bool(row[0]), int(row[1])) if row else (False, 0)


def _backfill(
    inventory_url: str, sender: Celery, wire: str, page_size: int, rows: int, timeout: float
) -> Round:
    _empty_products(inventory_url)
    empty = SyncStats(
        events_processed=0, events_applied=0, events_skipped=0, last_lag_s=None, backfills=[]
    )
    started = time.perf_counter()
    start_backfills(
        jobs_named("products"),
        empty,
        sender,
        page_size=page_size,
        restart=False,
        wire=wire,  # type: ignore[arg-type]
    )
    while True:
        done, copied = _checkpoint_done(inventory_url)
        if done:
            break
        if time.perf_counter() - started > timeout:
            raise SystemExit(f"backfill ({wire}) not done after {timeout:g} s ({copied} rows)")
        time.sleep(0.05)  # a poll interval, not a synchronisation: the loop checks the state
    seconds = time.perf_counter() - started
    with psycopg.connect(inventory_url) as conn:
        count = conn.execute("SELECT count(*) FROM products").fetchone()
    assert count is not None and count[0] == rows, f"{wire}: {count} rows, expected {rows}"
    return Round(f"backfill {wire} p{page_size}", rows, seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--page-size", type=int, action="append", dest="page_sizes")
    parser.add_argument("--wires", default="copy,json", help="comma-separated: copy,json")
    parser.add_argument("--timeout", type=float, default=900)
    args = parser.parse_args()
    page_sizes = args.page_sizes or [5000]
    wires = [w for w in args.wires.split(",") if w]

    monolith_url = fresh_postgres("bench_backfill_mono")
    inventory_url = fresh_postgres("bench_backfill_inv")
    prefix = f"bench{uuid.uuid4().hex[:6]}-"
    env = _env(monolith_url, inventory_url, prefix)
    manage(env, "migrate", "--noinput")
    migrate.upgrade(inventory_url)
    print(f"logs in {WORK}; seeding {args.rows:,} products ...", flush=True)
    text = seed_monolith_products(monolith_url, args.rows)

    os.environ.update(
        {k: env[k] for k in ("CELERY_BROKER_URL", "STRANGLER_QUEUE_PREFIX", "STRANGLER_VAR_DIR")}
    )
    from sync.celery_app import make_celery

    sender = make_celery("bench-sender")
    rounds: dict[str, list[Round]] = {}
    ratios: dict[str, list[float]] = {}
    with ExitStack() as stack:
        _worker("monolith", env, stack, 1)
        _worker("inventory", env, stack, 2)
        for number in range(args.rounds):
            baseline = _raw_copy(inventory_url, text, args.rows)
            rounds.setdefault(baseline.variant, []).append(baseline)
            print(f"round {number + 1}: raw COPY {baseline.rows_per_s:,.0f} rows/s", flush=True)
            for wire in wires:
                for page_size in page_sizes:
                    got = _backfill(inventory_url, sender, wire, page_size, args.rows, args.timeout)
                    rounds.setdefault(got.variant, []).append(got)
                    ratio = got.rows_per_s / baseline.rows_per_s
                    ratios.setdefault(got.variant, []).append(ratio)
                    print(
                        f"round {number + 1}: {got.variant} {got.rows_per_s:,.0f} rows/s "
                        f"({got.seconds:.1f} s) = {ratio:.2f}x raw COPY",
                        flush=True,
                    )

    print(f"\n{args.rows:,} products, medians of {args.rounds} round(s):")
    print(f"{'variant':<24}{'rows/s':>12}{'seconds':>10}{'x raw COPY':>12}")
    summary = {}
    for variant, results in rounds.items():
        rps = statistics.median(r.rows_per_s for r in results)
        secs = statistics.median(r.seconds for r in results)
        ratio = statistics.median(ratios[variant]) if variant in ratios else 1.0
        summary[variant] = {"rows_per_s": rps, "seconds": secs, "x_raw_copy": ratio}
        print(f"{variant:<24}{rps:>12,.0f}{secs:>10.2f}{ratio:>12.2f}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "rows": args.rows,
                "rounds": args.rounds,
                "summary": summary,
                "all": {v: [asdict(r) for r in rs] for v, rs in rounds.items()},
                "ratios": ratios,
                "server": PG_SERVER,
            },
            indent=2,
        )
    )
    print(f"written {RESULTS.relative_to(REPO_ROOT)}")


if __name__ == "__main__":
    main()
