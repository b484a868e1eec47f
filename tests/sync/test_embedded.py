"""The embedded default: kombu's filesystem transport under the var folder, SQLite databases."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.inventory_api import all_products
from tests.support.waiting import wait_for
from tests.sync.rig import SyncRig, running_rig


@pytest.fixture
def embedded_rig(tmp_path: Path, filesystem_env: dict[str, str]) -> Iterator[SyncRig]:
    with running_rig(tmp_path, filesystem_env, databases="sqlite", seed_products=120) as rig:
        yield rig


def test_an_event_travels_the_filesystem_broker_end_to_end(embedded_rig: SyncRig) -> None:
    rig = embedded_rig
    with rig.worker("worker-monolith"), rig.worker("worker-inventory"), rig.relay():
        sku = rig.create_product(on_hand=4)["sku"]
        rig.adjust(sku, delta=6)
        wait_for(lambda: rig.product_synced(sku), timeout=60, message=f"{sku} in the service")
        wait_for(lambda: rig.outbox_stats()["pending"] == 0, message="the seed's events too")
    _, service = rig.product_on_both(sku)[1]
    assert service["version"] == 2 and service["on_hand"] == 10
    assert (Path(rig.env["STRANGLER_VAR_DIR"]) / "broker" / "queue").is_dir()


def test_a_backfill_runs_on_the_filesystem_broker(embedded_rig: SyncRig) -> None:
    rig = embedded_rig
    with rig.worker("worker-monolith"), rig.worker("worker-inventory"):
        done = rig.strangler_sync("backfill", "--page-size", "50", "--wait")
        assert done.returncode == 0, done.stderr
    assert "products: done, 120 rows" in done.stdout
    rows = all_products(rig.inventory_url)
    assert len(rows) == 120
    assert rows == all_products(rig.monolith_url)
