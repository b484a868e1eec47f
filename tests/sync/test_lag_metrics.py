"""Lag as Prometheus metrics: the monolith's ``/metrics`` tells the backlog and the age of the
oldest pending event per capability, the service's ``/metrics`` the commit-to-applied histogram
and its dead letters; `strangler sync status` shows them per capability."""

from __future__ import annotations

from functools import partial

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.support.waiting import wait_for
from tests.sync.rig import SyncRig


def _samples(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = httpx.get(f"{url}/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def test_backlog_oldest_age_and_the_lag_histogram(rig: SyncRig) -> None:
    skus = [rig.create_product()["sku"] for _ in range(2)]
    before = _samples(rig.monolith_url)
    inventory = (("capability", "inventory"),)
    assert before[("strangler_outbox_pending_events", inventory)] == 2
    assert before[("strangler_outbox_oldest_pending_age_seconds", inventory)] > 0
    assert before[("strangler_outbox_pending_events", (("capability", "payments"),))] == 0

    status = rig.strangler_sync("status", "--capability", "inventory")
    assert status.returncode == 0, status.stderr
    row = next(line for line in status.stdout.splitlines() if line.startswith("│ inventory"))
    cells = [cell.strip() for cell in row.split("│")[1:-1]]
    assert cells[0] == "inventory" and cells[1] == "2"  # backlog
    assert cells[4] == "0" and cells[5] == "never"  # dead letters, last reconciliation

    with rig.worker("worker-inventory"), rig.relay():
        for sku in skus:
            wait_for(partial(rig.product_synced, sku), message=f"{sku} relayed")
        wait_for(lambda: rig.sync_stats()["events_processed"] == 2, message="both processed")

    after = _samples(rig.monolith_url)
    assert after[("strangler_outbox_pending_events", inventory)] == 0
    assert after[("strangler_outbox_oldest_pending_age_seconds", inventory)] == 0
    service = _samples(rig.inventory_url)
    histogram = "strangler_sync_commit_to_applied_seconds"
    assert service[(f"{histogram}_count", inventory)] == 2
    assert service[(f"{histogram}_bucket", (*inventory, ("le", "+Inf")))] == 2
    # Commit to applied took some time, and (on an idle test machine) well under a minute.
    assert service[(f"{histogram}_sum", inventory)] > 0
    assert service[(f"{histogram}_bucket", (*inventory, ("le", "60.0")))] == 2
    assert service[("strangler_sync_dead_letters", inventory)] == 0
