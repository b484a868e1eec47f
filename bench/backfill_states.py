"""What does a payments or orders backfill page cost on each side, as state dicts and as COPY
text?

    .venv/bin/python -m bench.backfill_states --orders 20000 --page-size 5000 --rounds 3

Seeds ``--orders`` fulfilled orders, each with its captured payment (``manage.py seed_orders``),
into a fresh monolith database, and a refund for every fourth payment, then times, per kind and
for every keyset page of ``--page-size`` rows (medians over interleaved rounds, reported as
milliseconds per 1,000 rows), the real code of each side:

* **monolith read**: the state-dict reader (``payment_states_after`` / ``order_states_after``:
  the ORM, its prefetch, a state dict per row) and the COPY text reader
  (``payment_page_copy_bytes`` / ``order_page_copy_bytes``: ``COPY (SELECT ...) TO STDOUT`` of
  the rows and of their child rows);
* **wire**: ``json.dumps`` + ``json.loads`` of a state-dict page (what Celery's JSON does to it
  on the two sides; COPY text travels as bytes beside its message, sync/page_store.py);
* **owner apply** into the emptied service tables, each page in its own transaction: state dicts
  through the upsert by version the events use (``write_payment_states``, the orders service's
  ``_write_states``: the baseline), state dicts COPYed into staging from Python and merged
  (``AggregateMerge.write_states``, what ``--wire json`` does on PostgreSQL), and COPY text handed
  to COPY as it came and merged (``AggregateMerge.write_text``, the default ``--wire copy``).

Prints the table and each way's total (read + wire + apply) as a ratio to the first, and writes
``bench/results/backfill_states.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg

from bench.monolith_prep import fresh_postgres, manage
from bench.processes import REPO_ROOT

RESULTS = REPO_ROOT / "bench" / "results" / "backfill_states.json"
READ_STATES = "monolith read: state dicts (ORM)"
READ_COPY = "monolith read: COPY text"
WIRE_JSON = "wire: JSON encode + decode"
APPLY_PLAIN = "owner apply: state dicts, plain upsert"
APPLY_STATES = "owner apply: state dicts, COPY + merge"
APPLY_TEXT = "owner apply: COPY text, COPY + merge"
MONO_DB = "bench_states_mono"
PAY_DB = "bench_states_pay"
ORD_DB = "bench_states_ord"

#: Per kind: the service's tables (emptied before each apply).
TABLES = {"payment": ("payments", "refunds"), "order": ("orders", "order_lines")}


def _seed(orders: int) -> str:
    mono = fresh_postgres(MONO_DB)
    env = {
        **os.environ,
        "DATABASE_URL": mono,
        "DJANGO_SETTINGS_MODULE": "monolith.settings",
        "PYTHONPATH": str(REPO_ROOT),
    }
    manage(env, "migrate", "--noinput")
    manage(env, "seed_inventory", "--products", "200")
    manage(env, "seed_orders", "--orders", str(orders), "--workers", "2")
    with psycopg.connect(mono, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO payments_refund (id, payment_id, amount, created_at) "
            "SELECT gen_random_uuid(), id, 1.00, updated_at FROM payments_payment "
            "WHERE get_byte(uuid_send(id), 15) % 4 = 0"
        )
        conn.execute("VACUUM ANALYZE")
    return mono


@dataclass(frozen=True)
class Kind:
    """One aggregate's real code on each side (imported once Django is set up)."""

    name: str
    model: Any
    read_states: Callable[..., list[dict[str, Any]]]
    read_copy: Callable[..., bytes]
    plain: Callable[[Any, list[Any]], int]
    merge: Any
    service_url: str


Page = tuple[list[dict[str, Any]], bytes]


def _read_pages(kind: Kind, page_size: int, samples: dict[str, list[float]]) -> list[Page]:
    """Every page both ways (the monolith side), timing each way and the JSON wire."""
    pages: list[Page] = []
    read_json = read_copy = wire = 0.0
    after: str | None = None
    while True:
        t0 = time.perf_counter()
        rows = kind.read_states(after_key=after, limit=page_size)
        read_json += time.perf_counter() - t0
        if not rows:
            break
        t0 = time.perf_counter()
        text = kind.read_copy(after_key=after, limit=page_size)
        read_copy += time.perf_counter() - t0
        t0 = time.perf_counter()
        rows = json.loads(json.dumps(rows))
        wire += time.perf_counter() - t0
        pages.append((rows, text))
        after = str(rows[-1]["id"])
    samples.setdefault(READ_STATES, []).append(read_json)
    samples.setdefault(READ_COPY, []).append(read_copy)
    samples.setdefault(WIRE_JSON, []).append(wire)
    return pages


def _apply(kind: Kind, sessions: Any, pages: list[Page], how: str) -> float:
    """Apply every page into the emptied service tables, each in its own transaction."""
    from extracted.chassis.sync.aggregate_pages import newest_per_key
    from protocol.copy_text import split_page

    with psycopg.connect(kind.service_url, autocommit=True) as conn:
        conn.execute(f"TRUNCATE {', '.join(TABLES[kind.name])}")
    started = time.perf_counter()
    for rows, text in pages:
        if how == APPLY_TEXT:
            with sessions.begin() as session:
                kind.merge.write_text(session, *split_page(text))
            continue
        states = newest_per_key([kind.model.model_validate(row) for row in rows], "id")
        with sessions.begin() as session:
            if how == APPLY_PLAIN:
                kind.plain(session, states)
            else:
                kind.merge.write_states(session, states)
    return time.perf_counter() - started


def _report(
    kind: Kind, rows: int, page_size: int, samples: dict[str, list[float]]
) -> dict[str, Any]:
    per_k = {name: statistics.median(v) / rows * 1e6 for name, v in samples.items()}
    states_read = per_k[READ_STATES] + per_k[WIRE_JSON]
    totals = {
        "state dicts, plain upsert (before)": states_read + per_k[APPLY_PLAIN],
        "state dicts, COPY + merge (--wire json)": states_read + per_k[APPLY_STATES],
        "COPY text, COPY + merge (--wire copy)": per_k[READ_COPY] + per_k[APPLY_TEXT],
    }
    print(f"\n{kind.name}s: {rows} rows, pages of {page_size}, {len(samples[READ_COPY])} rounds")
    print(f"{'':48} {'ms / 1k rows':>12} {'x plain':>8}")
    for name, ms in per_k.items():
        print(f"{name:48} {ms:12.1f} {ms / per_k[APPLY_PLAIN]:8.2f}")
    before = totals["state dicts, plain upsert (before)"]
    for name, ms in totals.items():
        print(f"total: {name:41} {ms:12.1f} {ms / before:8.2f}")
    return {
        "rows": rows,
        "ms_per_1k_rows": per_k,
        "totals_ms_per_1k_rows": totals,
        "samples_s": samples,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--orders", type=int, default=20_000)
    parser.add_argument("--page-size", type=int, default=5_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    started = time.perf_counter()
    mono_url = _seed(args.orders)
    print(f"seeded {args.orders} orders in {time.perf_counter() - started:.1f} s")
    services = {"payment": fresh_postgres(PAY_DB), "order": fresh_postgres(ORD_DB)}

    os.environ["DATABASE_URL"] = mono_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "monolith.settings")
    import django

    django.setup()
    from django.db import connection

    from contracts.events import OrderState, PaymentState
    from extracted.chassis.web.db import make_engine, make_sessions
    from extracted.orders import migrate as orders_migrate
    from extracted.orders import sync as orders_sync
    from extracted.payments import migrate as payments_migrate
    from extracted.payments import sync as payments_sync
    from extracted.payments.backfill import write_payment_states
    from monolith.orders.bulk_read import order_page_copy_bytes
    from monolith.orders.selectors import order_states_after
    from monolith.payments.bulk_read import payment_page_copy_bytes
    from monolith.payments.selectors import payment_states_after

    payments_migrate.upgrade(services["payment"])
    orders_migrate.upgrade(services["order"])
    kinds = [
        Kind(
            "payment",
            PaymentState,
            payment_states_after,
            payment_page_copy_bytes,
            write_payment_states,
            payments_sync.BACKFILL.merge,
            services["payment"],
        ),
        Kind(
            "order",
            OrderState,
            order_states_after,
            order_page_copy_bytes,
            orders_sync._write_states,
            orders_sync.BACKFILL.merge,
            services["order"],
        ),
    ]
    report: dict[str, Any] = {"orders": args.orders, "page_size": args.page_size, "kinds": {}}
    for kind in kinds:
        sessions = make_sessions(make_engine(kind.service_url))
        samples: dict[str, list[float]] = {}
        rows = 0
        for _ in range(args.rounds):
            pages = _read_pages(kind, args.page_size, samples)
            rows = sum(len(page[0]) for page in pages)
            for how in (APPLY_PLAIN, APPLY_STATES, APPLY_TEXT):
                samples.setdefault(how, []).append(_apply(kind, sessions, pages, how))
            connection.close()
        report["kinds"][kind.name] = _report(kind, rows, args.page_size, samples)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2))
    print(f"\nwrote {RESULTS}")


if __name__ == "__main__":
    main()
