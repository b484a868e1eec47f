"""What does a payments or orders backfill page cost on each side, and would COPY text on the wire
(as products travel) be worth it?

    .venv/bin/python -m bench.backfill_states --orders 20000 --page-size 5000 --rounds 3

Seeds ``--orders`` fulfilled orders, each with its captured payment (``manage.py seed_orders``),
into a fresh monolith database, and a refund for every fourth payment, then times, per keyset page
of ``--page-size`` rows (medians over interleaved rounds, as milliseconds per 1,000 rows):

* **monolith read**: the backfill's reader (``payment_states_after`` / ``order_states_after``:
  the ORM, its prefetch, a state dict per row), against a ``COPY (SELECT ...) TO STDOUT`` of the
  same page and of its child rows (what a COPY text wire would read);
* **wire**: ``json.dumps`` + ``json.loads`` of the page (what Celery's JSON does to it on the two
  sides; COPY text would travel as bytes beside its message, sync/page_store.py);
* **owner apply** into the emptied service tables, each page in its own transaction:
  ``plain`` (the upsert by version the events use: ``write_payment_states`` / the orders
  service's ``_write_states``; the baseline), ``copy json`` (what the owner does on PostgreSQL:
  validate the state dicts, COPY them into staging, one merge: ``*/bulk_load.py``) and ``copy
  text`` (the text the monolith's COPY wrote, COPYed into staging as is, the same merge).

Prints the table and the two wires' totals (read + wire + apply) as ratios to the plain apply's
JSON total, and writes ``bench/results/backfill_states.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import sql

from bench.monolith_prep import fresh_postgres, manage
from bench.processes import REPO_ROOT

RESULTS = REPO_ROOT / "bench" / "results" / "backfill_states.json"
MONO_DB = "bench_states_mono"
PAY_DB = "bench_states_pay"
ORD_DB = "bench_states_ord"

#: Per kind: the monolith's tables and columns of a page (the service's columns have the same
#: names in the same order), the child table's key to its parent, and the service's tables.
SHAPES: dict[str, dict[str, Any]] = {
    "payment": {
        "table": "payments_payment",
        "child_table": "payments_refund",
        "child_parent": "payment_id",
        "service": ("payments", "refunds"),
    },
    "order": {
        "table": "orders_order",
        "child_table": "orders_orderline",
        "child_parent": "order_id",
        "service": ("orders", "order_lines"),
    },
}


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


def _copy_page(mono: psycopg.Connection[Any], kind: str, after: str | None, limit: int) -> tuple[
    bytes, bytes
]:
    """The page after ``after`` and its child rows, as the text ``COPY TO STDOUT`` writes."""
    from extracted.orders.bulk_load import LINE_COLUMNS, ORDER_COLUMNS
    from extracted.payments.bulk_load import PAYMENT_COLUMNS, REFUND_COLUMNS

    shape = SHAPES[kind]
    columns, child_columns = (
        (PAYMENT_COLUMNS, REFUND_COLUMNS) if kind == "payment" else (ORDER_COLUMNS, LINE_COLUMNS)
    )
    where = sql.SQL("WHERE id > {}").format(after) if after else sql.SQL("")
    page = sql.SQL("SELECT {cols} FROM {table} {where} ORDER BY id LIMIT {limit}").format(
        cols=sql.SQL(", ").join(map(sql.Identifier, columns)),
        table=sql.Identifier(shape["table"]),
        where=where,
        limit=sql.Literal(limit),
    )
    children = sql.SQL(
        "SELECT {cols} FROM {child} WHERE {parent} IN (SELECT id FROM ({page}) AS p)"
    ).format(
        cols=sql.SQL(", ").join(map(sql.Identifier, child_columns)),
        child=sql.Identifier(shape["child_table"]),
        parent=sql.Identifier(shape["child_parent"]),
        page=page,
    )
    out = []
    with mono.cursor() as cursor:
        for query in (page, children):
            chunks: list[bytes] = []
            with cursor.copy(sql.SQL("COPY ({}) TO STDOUT").format(query)) as copy:
                for chunk in copy:
                    chunks.append(bytes(chunk))
            out.append(b"".join(chunks))
    return out[0], out[1]


def _timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


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
    from extracted.chassis.backfill_pages import newest_per_key
    from extracted.chassis.bulk_merge import copy_text, raw_cursor
    from extracted.chassis.db import make_engine, make_sessions
    from extracted.orders import bulk_load as orders_bulk
    from extracted.orders import migrate as orders_migrate
    from extracted.orders.sync import _write_states
    from extracted.payments import bulk_load as payments_bulk
    from extracted.payments import migrate as payments_migrate
    from extracted.payments.backfill import write_payment_states
    from monolith.orders.selectors import order_states_after
    from monolith.payments.selectors import payment_states_after

    payments_migrate.upgrade(services["payment"])
    orders_migrate.upgrade(services["order"])
    readers = {"payment": payment_states_after, "order": order_states_after}
    models = {"payment": PaymentState, "order": OrderState}
    plain = {"payment": write_payment_states, "order": _write_states}
    bulk = {"payment": payments_bulk.copy_payment_states, "order": orders_bulk.copy_order_states}
    merges = {"payment": payments_bulk._MERGE, "order": orders_bulk._MERGE}

    report: dict[str, Any] = {"orders": args.orders, "page_size": args.page_size, "kinds": {}}
    for kind in ("payment", "order"):
        sessions = make_sessions(make_engine(services[kind]))
        model = models[kind]
        merge = merges[kind]
        parent_table, child_table = SHAPES[kind]["service"]
        samples: dict[str, list[float]] = {}
        rows_total = 0

        def add(name: str, seconds: float) -> None:
            samples.setdefault(name, []).append(seconds)

        def empty() -> None:
            with psycopg.connect(services[kind], autocommit=True) as conn:
                conn.execute(f"TRUNCATE {parent_table}, {child_table}")

        with psycopg.connect(mono_url) as mono:
            for _ in range(args.rounds):
                # Read every page both ways (the monolith side).
                pages: list[tuple[list[dict[str, Any]], bytes, bytes]] = []
                read_json = read_copy = wire = 0.0
                after: str | None = None
                while True:
                    t0 = time.perf_counter()
                    rows = readers[kind](after_key=after, limit=args.page_size)
                    read_json += time.perf_counter() - t0
                    if not rows:
                        break
                    t0 = time.perf_counter()
                    text, child_text = _copy_page(mono, kind, after, args.page_size)
                    read_copy += time.perf_counter() - t0
                    t0 = time.perf_counter()
                    rows = json.loads(json.dumps(rows))
                    wire += time.perf_counter() - t0
                    pages.append((rows, text, child_text))
                    after = str(rows[-1]["id"])
                rows_total = sum(len(p[0]) for p in pages)
                add("monolith read: state dicts (ORM)", read_json)
                add("monolith read: COPY TO STDOUT", read_copy)
                add("wire: JSON encode + decode", wire)

                def apply_plain() -> None:
                    for rows, _, _ in pages:
                        states = [model.model_validate(row) for row in rows]
                        with sessions.begin() as session:
                            plain[kind](session, newest_per_key(states, "id"))

                def apply_copy_json() -> None:
                    for rows, _, _ in pages:
                        states = [model.model_validate(row) for row in rows]
                        with sessions.begin() as session:
                            bulk[kind](session, newest_per_key(states, "id"))

                def apply_copy_text() -> None:
                    for _, text, child_text in pages:
                        with sessions.begin() as session, raw_cursor(session) as cursor:
                            copy_text(cursor, merge.table, merge.columns, text)
                            assert merge.children is not None
                            kids = merge.children
                            copy_text(cursor, kids.table, kids.columns, child_text)
                            cursor.execute(merge.sql)

                for name, fn in (
                    ("owner apply: plain upsert (baseline)", apply_plain),
                    ("owner apply: copy json (the bulk path)", apply_copy_json),
                    ("owner apply: copy text", apply_copy_text),
                ):
                    empty()
                    add(name, _timed(fn))
                connection.close()
        per_k = {name: statistics.median(v) / rows_total * 1000 * 1000 for name, v in samples.items()}
        base = per_k["owner apply: plain upsert (baseline)"]
        wire_json = per_k["monolith read: state dicts (ORM)"] + per_k["wire: JSON encode + decode"]
        totals = {
            "JSON wire, plain apply (before)": wire_json + base,
            "JSON wire, copy json apply (now)": wire_json
            + per_k["owner apply: copy json (the bulk path)"],
            "COPY text wire, copy text apply": per_k["monolith read: COPY TO STDOUT"]
            + per_k["owner apply: copy text"],
        }
        print(f"\n{kind}s: {rows_total} rows, pages of {args.page_size}, {args.rounds} rounds")
        print(f"{'':48} {'ms / 1k rows':>12} {'x plain':>8}")
        for name, ms in per_k.items():
            print(f"{name:48} {ms:12.1f} {ms / base:8.2f}")
        before = totals["JSON wire, plain apply (before)"]
        for name, ms in totals.items():
            print(f"total: {name:41} {ms:12.1f} {ms / before:8.2f}")
        report["kinds"][kind] = {
            "rows": rows_total,
            "ms_per_1k_rows": per_k,
            "totals_ms_per_1k_rows": totals,
            "samples_s": samples,
        }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2))
    print(f"\nwrote {RESULTS}")


if __name__ == "__main__":
    main()
