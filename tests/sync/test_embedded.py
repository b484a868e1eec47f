"""The embedded default: kombu's filesystem transport under the var folder, SQLite databases.

The module shares one rig (the monolith and the three services on SQLite files, seeded once)
and its workers: starting them on SQLite is the slow part, and no test here leaves them changed.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.inventory_api import all_products
from tests.support.processes import VENV_BIN
from tests.support.waiting import wait_for
from tests.sync.owner_states import monolith_states, service_states
from tests.sync.reconcile_runs import AWKWARD, backfill, reconcile
from tests.sync.rig import SyncRig, running_rig

pytestmark = pytest.mark.slow

SEEDED_PRODUCTS = 120
SEEDED_ORDERS = 60


@pytest.fixture(scope="module")
def embedded_rig(
    tmp_path_factory: pytest.TempPathFactory, module_filesystem_env: dict[str, str]
) -> Iterator[SyncRig]:
    """The monolith (SEEDED_PRODUCTS products, some reservations, SEEDED_ORDERS orders with
    their payments, carried by nothing yet) and the three services, on SQLite files."""
    with running_rig(
        tmp_path_factory.mktemp("embedded"),
        module_filesystem_env,
        databases="sqlite",
        seed_products=SEEDED_PRODUCTS,
        seed_reservations=40,
        services=("inventory", "payments", "orders"),
    ) as rig:
        seeded = rig.run_program(
            str(VENV_BIN / "python"),
            "monolith/manage.py",
            "seed_orders",
            "--orders",
            str(SEEDED_ORDERS),
        )
        assert seeded.returncode == 0, seeded.stderr
        yield rig


def test_every_backfill_runs_on_the_filesystem_broker(embedded_rig: SyncRig) -> None:
    """Every job of every capability on SQLite (the owners' plain upsert, no COPY)."""
    rig = embedded_rig
    rig.shared_workers("worker-monolith", "worker-inventory", "worker-payments", "worker-orders")
    done = rig.strangler_sync("backfill", "--page-size", "50", "--wait")
    assert done.returncode == 0, done.stderr
    rows = all_products(rig.inventory_url)
    assert len(rows) >= SEEDED_PRODUCTS
    assert rows == all_products(rig.monolith_url)
    assert f"products: done, {len(rows)} rows" in done.stdout
    for kind in ("payment", "order"):
        monolith = monolith_states(rig, kind)
        assert len(monolith) == SEEDED_ORDERS
        assert service_states(rig, kind) == monolith
    assert "payments: done, 60 rows" in done.stdout and "orders: done, 60 rows" in done.stdout


def test_an_event_travels_the_filesystem_broker_end_to_end(embedded_rig: SyncRig) -> None:
    rig = embedded_rig
    rig.shared_workers("worker-monolith", "worker-inventory")
    with rig.relay():
        sku = rig.create_product(on_hand=4)["sku"]
        rig.adjust(sku, delta=6)
        wait_for(lambda: rig.product_synced(sku), timeout=60, message=f"{sku} in the service")
        wait_for(lambda: rig.outbox_stats()["pending"] == 0, message="the seed's events too")
    _, service = rig.product_on_both(sku)[1]
    assert service["version"] == 2 and service["on_hand"] == 10
    assert (Path(rig.env["STRANGLER_VAR_DIR"]) / "broker" / "queue").is_dir()


def test_reconciliation_works_on_the_embedded_sqlite_files(embedded_rig: SyncRig) -> None:
    """Django's SQLite and SQLAlchemy's SQLite files, through the real processes: products, and
    reservations, whose uuid keys both store as 32 hex digits and whose lines are child rows."""
    rig = embedded_rig
    for sku in AWKWARD:
        rig.create_product(sku=sku, price="3.10")
    # Copied again from the start: this test's products too, whatever ran before it.
    backfill(rig, "products", "reservations", restart=True)
    products = len(all_products(rig.monolith_url))
    code, report = reconcile(rig, "--parts", "4", "--leaf-rows", "20")
    assert code == 0 and report["source_rows"] == products >= SEEDED_PRODUCTS + len(AWKWARD)
    assert report["target_rows"] == products, report
    code, report = reconcile(rig, "--aggregate", "reservations", "--parts", "4")
    assert code == 0 and report["source_rows"] == report["target_rows"] > 20, report

    service = rig.env["INVENTORY_DATABASE_URL"].removeprefix("sqlite:///")
    with sqlite3.connect(service) as conn:
        conn.execute("UPDATE products SET price = '3.11' WHERE sku = 'B-alpha'")
        conn.execute(
            "UPDATE reservation_lines SET quantity = quantity + 1 WHERE rowid = "
            "(SELECT min(rowid) FROM reservation_lines)"
        )
    code, report = reconcile(rig, "--repair", "--parts", "4", "--leaf-rows", "20")
    assert code == 0
    assert [d["fields"] for d in report["different"]] == [["price"]]
    assert report["clean_after_repair"] is True
    code, report = reconcile(
        rig, "--aggregate", "reservations", "--repair", "--parts", "4", "--leaf-rows", "5"
    )
    assert code == 0
    assert [d["fields"] for d in report["different"]] == [["lines"]]
    assert report["clean_after_repair"] is True
