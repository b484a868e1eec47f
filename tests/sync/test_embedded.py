"""The embedded default: kombu's filesystem transport under the var folder, SQLite databases."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.inventory_api import all_products
from tests.support.processes import VENV_BIN
from tests.support.waiting import wait_for
from tests.sync.owner_states import monolith_states, service_states
from tests.sync.rig import SyncRig, running_rig

pytestmark = pytest.mark.slow


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


def test_every_backfill_runs_on_the_filesystem_broker(
    tmp_path: Path, filesystem_env: dict[str, str]
) -> None:
    """Every job of every capability on SQLite (the owners' plain upsert, no COPY)."""
    services = ("inventory", "payments", "orders")
    with running_rig(
        tmp_path, filesystem_env, databases="sqlite", seed_products=120, services=services
    ) as rig:
        seeded = rig.run_program(
            str(VENV_BIN / "python"), "monolith/manage.py", "seed_orders", "--orders", "60"
        )
        assert seeded.returncode == 0, seeded.stderr
        with (
            rig.worker("worker-monolith"),
            rig.worker("worker-inventory"),
            rig.worker("worker-payments"),
            rig.worker("worker-orders"),
        ):
            done = rig.strangler_sync("backfill", "--page-size", "50", "--wait")
            assert done.returncode == 0, done.stderr
        assert "products: done, 120 rows" in done.stdout
        rows = all_products(rig.inventory_url)
        assert len(rows) == 120
        assert rows == all_products(rig.monolith_url)
        for kind in ("payment", "order"):
            monolith = monolith_states(rig, kind)
            assert len(monolith) == 60
            assert service_states(rig, kind) == monolith
        assert "payments: done, 60 rows" in done.stdout and "orders: done, 60 rows" in done.stdout
