"""Reconciliation end to end: the monolith and the service (real servers on real PostgreSQL)
compute range checksums in their own databases, `strangler sync reconcile` bisects down to the
rows that differ, and `--repair` fixes them through the owner (on the embedded SQLite files:
tests/sync/test_embedded.py).

The rows get to the service through the real backfill (workers on Redis); drift is then made
behind sync's back with direct SQL in the service's database. Every test leaves the tables equal
again (its last step is a clean reconciliation), so the module shares one backfilled rig.
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from tests.support.inventory_api import product_path
from tests.sync.reconcile_runs import AWKWARD, DRIFT, backfill, reconcile
from tests.sync.rig import SyncRig, running_rig

#: Enough rows for two levels of bisection with the tests' splits (8 parts, leaves of 50).
SEEDED = 600


@pytest.fixture(scope="module")
def synced(
    tmp_path_factory: pytest.TempPathFactory, module_redis_env: dict[str, str]
) -> Iterator[SyncRig]:
    tmp = tmp_path_factory.mktemp("reconcile")
    with running_rig(tmp, module_redis_env, seed_products=SEEDED) as rig:
        for sku in AWKWARD:
            rig.create_product(sku=sku, price="12.50")
        backfill(rig)
        yield rig


def service_sql(rig: SyncRig, statement: str, *params: object) -> None:
    with psycopg.connect(rig.env["INVENTORY_DATABASE_URL"], autocommit=True) as conn:
        conn.execute(statement, params)


def test_identical_tables_show_no_drift_and_the_run_is_recorded(synced: SyncRig) -> None:
    code, report = reconcile(synced, "--parts", "8", "--leaf-rows", "50")
    assert code == 0
    assert report["clean"] and report["drift"] == 0
    assert report["source_rows"] == report["target_rows"] == SEEDED + len(AWKWARD)
    last = synced.sync_stats()["last_reconciliation"]
    assert last["clean"] and last["aggregate"] == "products" and last["drift"] == 0


def test_a_row_corrupted_behind_syncs_back_is_found_with_its_fields_and_repaired(
    synced: SyncRig,
) -> None:
    sku = "SKU-00377"
    # A version as high as the source's or higher: compare-and-set alone could never fix it.
    service_sql(
        synced,
        "UPDATE products SET on_hand = on_hand + 1, version = version + 5 WHERE sku = %s",
        sku,
    )
    code, report = reconcile(synced, "--parts", "8", "--leaf-rows", "50")
    assert code == DRIFT
    assert report["missing"] == [] and report["extra"] == []
    [drift] = report["different"]
    assert drift["key"] == sku
    assert drift["fields"] == ["on_hand", "version"]
    assert drift["target_version"] == drift["source_version"] + 5
    assert synced.sync_stats()["last_reconciliation"]["different"] == 1

    code, repaired = reconcile(synced, "--repair", "--parts", "8", "--leaf-rows", "50")
    assert code == 0
    assert repaired["repair"] == {"written": 1, "deleted": 0, "skipped": 0}
    assert repaired["clean_after_repair"] is True
    monolith, service = synced.product_on_both(sku)
    assert monolith == service
    assert reconcile(synced)[1]["clean"]


def test_missing_and_extra_rows_are_found_and_repaired(synced: SyncRig) -> None:
    service_sql(synced, "DELETE FROM products WHERE sku IN ('SKU-00001', 'a.dot')")
    service_sql(
        synced,
        "INSERT INTO products (sku, name, price, on_hand, reserved, version, created_at, "
        "updated_at) VALUES ('SKU-99999x', 'stray', 1, 1, 0, 1, now(), now())",
    )
    code, report = reconcile(synced)
    assert code == DRIFT
    assert report["missing"] == ["SKU-00001", "a.dot"]
    assert report["extra"] == [{"key": "SKU-99999x", "target_version": 1}]
    assert report["different"] == []
    assert report["target_rows"] == report["source_rows"] - 1

    code, repaired = reconcile(synced, "--repair")
    assert code == 0 and repaired["repair"] == {"written": 2, "deleted": 1, "skipped": 0}
    status, _ = synced.get(synced.inventory_url, product_path("SKU-99999x"))
    assert status == 404
    assert synced.product_synced("a.dot")
    assert reconcile(synced)[1]["clean"]


def test_the_table_report_and_bad_options(synced: SyncRig) -> None:
    service_sql(synced, "UPDATE products SET name = 'renamed' WHERE sku = '_under'")
    shown = synced.strangler_sync("reconcile")
    assert shown.returncode == DRIFT, shown.stderr
    assert "_under" in shown.stdout and "name" in shown.stdout
    assert "0 missing, 0 extra, 1 different" in shown.stdout
    assert synced.strangler_sync("reconcile", "--repair").returncode == 0

    bad = synced.strangler_sync("reconcile", "--parts", "1")
    assert bad.returncode != 0 and "--parts" in bad.stderr
    down = synced.strangler_sync("reconcile", STRANGLER_INVENTORY_URL="http://127.0.0.1:9")
    assert down.returncode == 1
    assert down.stderr.startswith("strangler sync reconcile: the inventory service")
    assert len(down.stderr.strip().splitlines()) == 1
    refused = synced.strangler_sync("reconcile", STRANGLER_SYNC_TOKEN="not-the-owners")
    assert refused.returncode == 1
    assert refused.stderr.startswith("strangler sync reconcile: the monolith at ")
    assert refused.stderr.strip().endswith(
        "answered 401: it refused the sync token: "
        "STRANGLER_SYNC_TOKEN differs from the one it runs with"
    )
