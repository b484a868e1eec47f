"""How fast does the backfill copy products, against a raw ``COPY`` of the same rows?

    .venv/bin/python -m bench.backfill_copy --rows 1000000 --rounds 2 --parallel 1 --parallel 4

Seeds ``--rows`` products into a fresh monolith database (server-side ``generate_series``), then
per round, on a fresh inventory database's ``products`` table:

* **raw COPY** (the baseline): the rows, already in memory as COPY text, written with
  ``COPY products FROM STDIN`` in one transaction: the fastest a client can load that table.
* **backfill** through the real path: a Celery worker for each side (Redis broker), the first
  page request sent as `strangler sync backfill` sends it, timed until the owner's checkpoint
  says done. Variants: ``copy`` (COPY text pages, the bulk path) and ``json`` (state dicts), at
  ``--page-size`` rows per page, split into ``--parallel`` key ranges (one chain each).

Prints rows/s per variant and its ratio to the raw COPY of the same round (medians over rounds),
and the CPU seconds per 1M rows each process spent (bench/cpu.py: the two workers, the
PostgreSQL backends of each database, the raw COPY's client and backend), and writes
``bench/results/backfill_copy.json``.
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
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psycopg
from celery import Celery

from bench.cpu import BackendCpu, cpu_seconds, tree_cpu_seconds
from bench.monolith_prep import PG_SERVER, fresh_postgres, manage
from bench.processes import REPO_ROOT, running
from bench.products_seed import COLUMNS, seed_monolith_products
from extracted.inventory import migrate
from sync.control.backfill import DEFAULT_PARALLEL, MAX_PAGE_SIZE, jobs_named, start_backfills
from sync.control.stats import SyncStats

RESULTS = REPO_ROOT / "bench" / "results" / "backfill_copy.json"
REDIS = "redis://127.0.0.1:6379/0"
#: Worker logs and the var folder of the run (printed at the start).
WORK = Path(tempfile.mkdtemp(prefix="bench-backfill-"))
LOGS = WORK / "logs"


MONO_DB = "bench_backfill_mono"
INV_DB = "bench_backfill_inv"


@dataclass
class Round:
    variant: str
    rows: int
    seconds: float
    #: CPU seconds per process (name -> seconds) spent on the round.
    cpu: dict[str, float] = field(default_factory=dict)

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


def _worker(side: str, env: dict[str, str], stack: ExitStack, concurrency: int) -> int:
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
    proc = stack.enter_context(running(argv, log=log, env=env))
    deadline = time.monotonic() + 60
    while " ready." not in (log.read_text(errors="replace") if log.exists() else ""):
        if time.monotonic() > deadline:
            raise SystemExit(f"the {side} worker did not start; see {log}")
        time.sleep(0.1)
    return proc.pid


def _empty_products(inventory_url: str) -> None:
    with psycopg.connect(inventory_url, autocommit=True) as conn:
        conn.execute("TRUNCATE products, backfill_checkpoints")
        conn.execute("CHECKPOINT")


def _raw_copy(inventory_url: str, text: str, rows: int) -> Round:
    """COPY ``text`` into products in one transaction (1 MiB writes), as
    bench.products_seed.copy_into does, reading its backend's CPU before it goes."""
    _empty_products(inventory_url)
    data = text.encode()
    client_before = time.process_time()
    started = time.perf_counter()
    with psycopg.connect(inventory_url) as conn:
        backend_before = cpu_seconds(conn.info.backend_pid)
        conn.execute("SET TIME ZONE 'UTC'")
        with conn.cursor().copy(f"COPY products ({COLUMNS}) FROM STDIN") as copy:
            for offset in range(0, len(data), 1 << 20):
                copy.write(data[offset : offset + (1 << 20)])
        conn.commit()
        seconds = time.perf_counter() - started
        backend = cpu_seconds(conn.info.backend_pid) - backend_before
    cpu = {"client": time.process_time() - client_before, "postgres backend": backend}
    return Round("raw COPY", rows, seconds, cpu)


def _backfill(
    inventory_url: str,
    sender: Celery,
    workers: dict[str, int],
    variant: tuple[str, int, int],
    rows: int,
    timeout: float,
) -> Round:
    wire, page_size, parallel = variant
    _empty_products(inventory_url)
    empty = SyncStats(
        events_processed=0, events_applied=0, events_skipped=0, last_lag_s=None, backfills=[]
    )
    backends = {db: BackendCpu(PG_SERVER, [db]) for db in (MONO_DB, INV_DB)}
    for sampler in backends.values():
        sampler.start()
    workers_before = {side: tree_cpu_seconds(pid) for side, pid in workers.items()}
    started = time.perf_counter()
    start_backfills(
        jobs_named("products"),
        {"inventory": empty},
        sender,
        page_size=page_size,
        restart=False,
        wire=wire,  # type: ignore[arg-type]
        parallel=parallel,
    )
    while True:
        done, copied = _checkpoint_done(inventory_url)
        for sampler in backends.values():
            sampler.sample()
        if done:
            break
        if time.perf_counter() - started > timeout:
            raise SystemExit(f"backfill ({wire}) not done after {timeout:g} s ({copied} rows)")
        time.sleep(0.05)  # a poll interval, not a synchronisation: the loop checks the state
    seconds = time.perf_counter() - started
    cpu = {
        f"{side} worker": tree_cpu_seconds(pid) - workers_before[side]
        for side, pid in workers.items()
    }
    cpu["postgres backends, monolith db"] = backends[MONO_DB].seconds()
    cpu["postgres backends, inventory db"] = backends[INV_DB].seconds()
    with psycopg.connect(inventory_url) as conn:
        count = conn.execute("SELECT count(*) FROM products").fetchone()
    assert count is not None and count[0] == rows, f"{wire}: {count} rows, expected {rows}"
    return Round(f"backfill {wire} p{page_size} x{parallel}", rows, seconds, cpu)


def _checkpoint_done(inventory_url: str) -> tuple[bool, int]:
    """The products job's progress, its ranges summed when it was split."""
    with psycopg.connect(inventory_url) as conn:
        row = conn.execute(
            "SELECT bool_and(done), sum(rows) FROM backfill_checkpoints "
            "WHERE job = 'products' OR parent = 'products'"
        ).fetchone()
    return (bool(row[0]), int(row[1])) if row and row[0] is not None else (False, 0)


def _cpu_line(got: Round) -> str:
    per_million = 1_000_000 / got.rows
    parts = [f"{name} {secs * per_million:.2f}" for name, secs in got.cpu.items()]
    total = sum(got.cpu.values()) * per_million
    return f"    CPU s per 1M rows: {', '.join(parts)}; total {total:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--page-size", type=int, action="append", dest="page_sizes")
    parser.add_argument("--wires", default="copy,json", help="comma-separated: copy,json")
    parser.add_argument(
        "--parallel", type=int, action="append", help=f"key ranges (default {DEFAULT_PARALLEL})"
    )
    parser.add_argument("--timeout", type=float, default=900)
    args = parser.parse_args()
    page_sizes = args.page_sizes or [MAX_PAGE_SIZE]
    wires = [w for w in args.wires.split(",") if w]
    parallels = args.parallel or [DEFAULT_PARALLEL]
    concurrency = max(parallels)

    monolith_url = fresh_postgres(MONO_DB)
    inventory_url = fresh_postgres(INV_DB)
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
        # As the stack runs them (strangler/stack.py): threads, a slot per chain on each side.
        workers = {
            side: _worker(side, env, stack, concurrency) for side in ("monolith", "inventory")
        }
        shapes = [(w, p, n) for w in wires for p in page_sizes for n in parallels]
        for number in range(args.rounds):
            baseline = _raw_copy(inventory_url, text, args.rows)
            rounds.setdefault(baseline.variant, []).append(baseline)
            print(f"round {number + 1}: raw COPY {baseline.rows_per_s:,.0f} rows/s", flush=True)
            print(_cpu_line(baseline), flush=True)
            for shape in shapes:
                got = _backfill(inventory_url, sender, workers, shape, args.rows, args.timeout)
                rounds.setdefault(got.variant, []).append(got)
                ratio = got.rows_per_s / baseline.rows_per_s
                ratios.setdefault(got.variant, []).append(ratio)
                print(
                    f"round {number + 1}: {got.variant} {got.rows_per_s:,.0f} rows/s "
                    f"({got.seconds:.1f} s) = {ratio:.2f}x raw COPY",
                    flush=True,
                )
                print(_cpu_line(got), flush=True)

    print(f"\n{args.rows:,} products, medians of {args.rounds} round(s):")
    print(f"{'variant':<28}{'rows/s':>12}{'seconds':>10}{'x raw COPY':>12}")
    summary = {}
    for variant, results in rounds.items():
        rps = statistics.median(r.rows_per_s for r in results)
        secs = statistics.median(r.seconds for r in results)
        ratio = statistics.median(ratios[variant]) if variant in ratios else 1.0
        summary[variant] = {"rows_per_s": rps, "seconds": secs, "x_raw_copy": ratio}
        print(f"{variant:<28}{rps:>12,.0f}{secs:>10.2f}{ratio:>12.2f}")
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
