"""The strangler walk, end to end on real processes, PostgreSQL and Redis.

Steady traffic flows through the proxy while the inventory-reads route walks monolith → shadow →
canary 10/50/100 → extracted and back. Every response must be what the monolith alone would have
given, no client may see an error, and at the end both databases hold the same product rows.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.e2e.stack import Stack
from tests.e2e.traffic import Traffic
from tests.support.callers import stack_staff_headers
from tests.support.inventory_api import all_products
from tests.support.waiting import wait_for

pytestmark = pytest.mark.slow

READ_ROUTE = "inventory-reads"


def _backfill_and_sync(stack: Stack) -> None:
    done = stack.run("-m", "strangler.cli", "sync", "backfill", "--aggregate", "all", "--wait")
    assert done.returncode == 0, done.stdout + done.stderr
    wait_for(
        lambda: all_products(stack.inventory_url) == all_products(stack.monolith_url),
        timeout=60,
        message="service rows to equal monolith rows",
    )


def _await_requests(traffic: Traffic, count: int) -> None:
    wait_for(lambda: traffic.count() >= count, timeout=60, message=f"{count} requests")


def test_walk_reads_from_monolith_to_extracted_and_back(stack: Stack) -> None:
    _backfill_and_sync(stack)
    monolith_rows = all_products(stack.monolith_url)
    read_skus = [row["sku"] for row in monolith_rows[:10]]
    write_skus = [row["sku"] for row in monolith_rows[-5:]]
    read_paths = [f"/api/inventory/products/{sku}/" for sku in read_skus]
    read_paths.append("/api/inventory/products/?page_size=10")
    read_paths.append(f"/api/inventory/products/{read_skus[0]}/nope/")  # a 404 both sides agree on

    # What the monolith alone answers, through the proxy (same Host, so the same links).
    expected = {}
    for path in read_paths:
        resp = httpx.get(f"{stack.proxy_url}{path}", timeout=10)
        assert resp.headers["X-Strangler-Upstream"] == "monolith"
        expected[path] = (resp.status_code, resp.json())

    traffic = Traffic(stack.proxy_url, read_paths, write_skus, stack_staff_headers(stack.env))
    traffic.start()
    walk: list[dict[str, Any]] = [
        {"mode": "shadow"},
        {"mode": "canary", "percent": 10},
        {"mode": "canary", "percent": 50},
        {"mode": "canary", "percent": 100},
        {"mode": "extracted"},
        {"mode": "canary", "percent": 50},
        {"mode": "shadow"},
        {"mode": "monolith"},
    ]
    seen_per_step = []
    try:
        for changes in walk:
            stack.set_route(READ_ROUTE, **changes)
            loaded_at = time.monotonic()  # set_route returned: the proxy serves the new table
            start = traffic.count()
            _await_requests(traffic, start + 150)
            seen_per_step.append((changes, traffic.upstreams_sent_after(loaded_at)))
    finally:
        traffic.stop()

    assert traffic.errors == []
    bad = [
        (o.path, o.status, o.upstream)
        for o in traffic.observations
        if o.method == "GET" and (o.status, o.body) != expected[o.path]
    ]
    assert bad == [], f"{len(bad)} responses differ from the monolith's, e.g. {bad[:3]}"
    writes = [o for o in traffic.observations if o.method == "POST"]
    assert writes and all(o.status == 200 and o.upstream == "monolith" for o in writes)

    # The traffic really moved: all of it at 100%/extracted, none of it in monolith/shadow.
    by_mode = {str(changes): seen for changes, seen in seen_per_step}
    assert set(by_mode[str({"mode": "extracted"})]) == {"inventory"}
    assert set(by_mode[str({"mode": "canary", "percent": 100})]) == {"inventory"}
    assert set(by_mode[str({"mode": "shadow"})]) == {"monolith"}
    assert set(by_mode[str({"mode": "monolith"})]) == {"monolith"}
    split = by_mode[str({"mode": "canary", "percent": 50})]
    assert split["inventory"] > 0 and split["monolith"] > 0

    stats = stack.admin("/admin/stats")["routes"][READ_ROUTE]
    assert stats["shadow"]["compared"] > 0
    assert stats["shadow"]["mismatched"] == 0
    assert stats["errors"] == 0 and stats["fallbacks"] == 0  # no failure hidden by a fallback
    assert stack.admin(f"/admin/mismatches?route={READ_ROUTE}")["count"] == 0

    wait_for(
        lambda: all_products(stack.inventory_url) == all_products(stack.monolith_url),
        timeout=60,
        message="both databases to hold the same product rows",
    )
