"""Metrics: what a scrape of a real proxy says per route, upstream and mode, and the recent
mismatch ratio's window (pure logic)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from proxy.metrics import RECENT_COMPARISONS, ProxyMetrics
from tests.proxy.harness import Echo, echo_upstream, route, routes_yaml, running_proxy, upstream
from tests.support.random_refs import random_suffix
from tests.support.waiting import wait_for

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(admin_url: str) -> Samples:
    text = httpx.get(f"{admin_url}/metrics", timeout=5).text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


@pytest.fixture(scope="module")
def twin_a(upstream_logs: Path) -> Iterator[Echo]:
    with echo_upstream("twin-a", upstream_logs, "--same") as echo:
        yield echo


@pytest.fixture(scope="module")
def twin_b(upstream_logs: Path) -> Iterator[Echo]:
    with echo_upstream("twin-b", upstream_logs, "--same") as echo:
        yield echo


def test_a_scrape_counts_per_route_upstream_and_mode(
    tmp_path: Path, inventory: Echo, twin_a: Echo, twin_b: Echo
) -> None:
    # The primary ("monolith") and twin-b answer identically; inventory answers differently.
    table = routes_yaml(
        {
            "monolith": upstream(twin_a.url),
            "twin-b": upstream(twin_b.url),
            "inventory": upstream(inventory.url),
        },
        [
            route("differs", match={"path_prefix": "/api/d/"}, mode="shadow", target="inventory"),
            route("agrees", match={"path_prefix": "/api/a/"}, mode="shadow", target="twin-b"),
            route("served", match={"path_prefix": "/api/s/"}, mode="extracted", target="twin-b"),
        ],
    )
    with running_proxy(tmp_path, table) as proxy:
        run = random_suffix()
        with httpx.Client(base_url=proxy.url, timeout=5) as client:
            for n in range(4):
                # Every path distinct: paths must never become labels.
                assert client.get(f"/api/d/{run}/{n}/").status_code == 200
                assert client.get(f"/api/a/{run}/{n}/").status_code == 200
                assert client.get(f"/api/s/{run}/{n}/").status_code == 200
        wait_for(
            lambda: (
                (s := proxy.admin_json("/admin/stats")["routes"])["differs"]["shadow"]["compared"]
                == 4
                and s["agrees"]["shadow"]["compared"] == 4
            ),
            message="eight comparisons",
        )
        samples = scrape(proxy.admin_url)

    def requests(route_name: str, upstream_name: str, mode: str) -> float | None:
        return value(
            samples,
            "strangler_proxy_requests_total",
            route=route_name,
            upstream=upstream_name,
            mode=mode,
            status_class="2xx",
        )

    assert requests("differs", "monolith", "shadow") == 4
    assert requests("agrees", "monolith", "shadow") == 4
    assert requests("served", "twin-b", "extracted") == 4
    latency = "strangler_proxy_request_duration_seconds_count"
    assert value(samples, latency, route="served", upstream="twin-b", mode="extracted") == 4
    assert value(samples, latency, route="differs", upstream="monolith", mode="shadow") == 4

    comparisons, mismatches = (
        "strangler_proxy_shadow_comparisons_total",
        "strangler_proxy_shadow_mismatches_total",
    )
    assert value(samples, comparisons, route="differs", target="inventory") == 4
    assert value(samples, mismatches, route="differs", target="inventory") == 4
    assert value(samples, comparisons, route="agrees", target="twin-b") == 4
    assert value(samples, mismatches, route="agrees", target="twin-b") is None
    ratio = "strangler_proxy_shadow_mismatch_ratio"
    assert value(samples, ratio, route="differs") == 1.0
    assert value(samples, ratio, route="agrees") == 0.0
    assert value(samples, "strangler_proxy_shadow_queue_depth") == 0.0
    for name in ("monolith", "inventory", "twin-b"):
        state = "strangler_proxy_breaker_state"
        assert value(samples, state, upstream=name, state="closed") == 1.0
        assert value(samples, state, upstream=name, state="open") == 0.0
    # Bounded labels: no sample names a path.
    assert not any(run in v for _, labels in samples for _, v in labels)


def test_the_recent_ratio_covers_only_the_latest_comparisons() -> None:
    metrics = ProxyMetrics()
    for _ in range(50):
        metrics.observe_comparison(route="r", target="t", mismatched=True)
    assert metrics.summary()["routes"]["r"]["recent_mismatch_ratio"] == 1.0
    for _ in range(RECENT_COMPARISONS - 50):
        metrics.observe_comparison(route="r", target="t", mismatched=False)
    assert metrics.summary()["routes"]["r"]["recent_mismatch_ratio"] == 50 / RECENT_COMPARISONS
    for _ in range(50):  # the 50 mismatches slide out of the window
        metrics.observe_comparison(route="r", target="t", mismatched=False)
    summary = metrics.summary()["routes"]["r"]
    assert summary["recent_mismatch_ratio"] == 0.0
    assert summary["shadow"]["compared"] == RECENT_COMPARISONS + 50
    assert summary["shadow"]["mismatched"] == 50
