"""What does ``Idempotency-Key`` cost on ``POST /api/payments/``, and what does a replay cost?

Starts the monolith exactly as ``strangler/stack.py`` runs it (gunicorn, 2 workers x 4 gthread
threads) on a fresh PostgreSQL database, then drives ``POST /api/payments/`` (authorise and
capture 20.00 on ``tok_visa``, one customer) with ``wrk`` and ``bench/lua/payment.lua`` in three
variants, interleaved over ``--rounds`` rounds:

* ``no key`` — the baseline: a payment row and its outbox event per request;
* ``fresh key`` — the same, plus the key's record inserted and its answer stored in the same
  transaction;
* ``same key`` — one key for every request: the first runs, every other one replays the stored
  answer (no payment, no charge).

Prints the medians (req/s, p50, p99) and each variant's ratio to the baseline, checks that every
answer was a 2xx, and writes ``bench/results/payments_idempotency.json`` with every round.

Run: ``.venv/bin/python -m bench.payments_idempotency [--rounds 3] [--seconds 8]
[--connections 8]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from bench.monolith_prep import fresh_postgres, manage
from bench.processes import BENCH_MONOLITH_WORKERS, REPO_ROOT, free_port, running
from bench.wrk import WrkResult, run_wrk, wait_http
from strangler.stack import Ports, stack_processes

RESULTS = REPO_ROOT / "bench" / "results" / "payments_idempotency.json"
SCRIPT = REPO_ROOT / "bench" / "lua" / "payment.lua"
PG_DATABASE = "strangler_bench_payments"
VARIANTS = {"no key": "none", "fresh key": "unique", "same key": "same"}


def _median(rounds: list[WrkResult], field: str) -> float:
    return float(statistics.median(getattr(r, field) for r in rounds))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-payments-"))
    var = work / "var"
    var.mkdir()
    env = {"STRANGLER_VAR_DIR": str(var), "DATABASE_URL": fresh_postgres(PG_DATABASE)}
    full_env = {**os.environ, **env}
    manage(full_env, "migrate", "--noinput")
    token = manage(full_env, "issue_token", "bench-payer", "--create", "--ttl-s", "86400")

    ports = Ports(free_port(), free_port(), free_port(), free_port())
    monolith = {
        spec.name: spec for spec in stack_processes(ports, monolith_workers=BENCH_MONOLITH_WORKERS)
    }["monolith"]
    argv = [a for a in monolith.argv if a not in ("--access-logfile", "-")]
    url = f"http://127.0.0.1:{ports.monolith}/api/payments/"
    rounds: dict[str, list[WrkResult]] = {label: [] for label in VARIANTS}
    with running(argv, log=work / "monolith.log", env=env):
        wait_http(f"http://127.0.0.1:{ports.monolith}/health/ready")
        run_wrk(
            url, seconds=1, connections=args.connections, script=SCRIPT, script_args=[token, "none"]
        )  # warm-up
        for _ in range(args.rounds):
            for label, mode in VARIANTS.items():
                result = run_wrk(
                    url,
                    seconds=args.seconds,
                    connections=args.connections,
                    script=SCRIPT,
                    script_args=[token, mode],
                )
                if result.non_2xx or result.socket_errors:
                    raise SystemExit(
                        f"{label}: {result.non_2xx} non-2xx, {result.socket_errors} socket "
                        f"errors of {result.requests}"
                    )
                rounds[label].append(result)

    baseline = _median(rounds["no key"], "requests_per_s")
    print(
        f"\nPOST /api/payments/ on PostgreSQL, {args.connections} connections, "
        f"medians of {args.rounds} x {args.seconds} s"
    )
    print(f"{'':<12}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'vs no key':>11}")
    summary: dict[str, dict[str, float]] = {}
    for label, results in rounds.items():
        rps = _median(results, "requests_per_s")
        summary[label] = {
            "requests_per_s": rps,
            "p50_ms": _median(results, "p50_ms"),
            "p99_ms": _median(results, "p99_ms"),
            "ratio_to_baseline": rps / baseline,
        }
        s = summary[label]
        print(
            f"{label:<12}{rps:>10,.0f}{s['p50_ms']:>10.2f}{s['p99_ms']:>10.2f}"
            f"{s['ratio_to_baseline']:>10.2f}x"
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "benchmark": "payments_idempotency",
                "at": datetime.now(UTC).isoformat(),
                "database": "postgres",
                "rounds": args.rounds,
                "seconds": args.seconds,
                "connections": args.connections,
                "server": "gunicorn 2 workers x 4 gthread threads (strangler/stack.py)",
                "baseline": "no key",
                "medians": summary,
                "rounds_detail": {
                    label: [r.as_dict() for r in results] for label, results in rounds.items()
                },
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {RESULTS.relative_to(REPO_ROOT)}")


if __name__ == "__main__":
    main()
