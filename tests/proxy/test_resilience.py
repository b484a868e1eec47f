"""Circuit breakers: the state machine (pure, with a hand-driven clock) and, on real processes,
reads skipping an open target for the fallback."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from proxy.config import Breaker, Retry, Upstream
from proxy.resilience import Breakers, CircuitBreaker, RetryBudgets
from proxy.retrying import should_retry
from tests.proxy.harness import (
    Echo,
    RunningProxy,
    echo_upstream,
    route,
    routes_yaml,
    running_proxy,
    upstream,
)
from tests.support.random_refs import random_suffix
from tests.support.waiting import wait_for


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_opens_after_consecutive_failures_only() -> None:
    breaker = CircuitBreaker(Breaker(failures=3, cooldown_s=10), clock=Clock())
    for ok in (False, False, True, False, False):
        assert breaker.allow()
        breaker.record(ok=ok)
    assert breaker.state == "closed"  # the success reset the count
    breaker.record(ok=False)
    assert breaker.state == "open" and not breaker.allow()


def test_half_open_lets_one_probe_through() -> None:
    clock = Clock()
    breaker = CircuitBreaker(Breaker(failures=1, cooldown_s=10), clock=clock)
    breaker.record(ok=False)
    clock.now += 9.9
    assert not breaker.allow()
    clock.now += 0.2
    assert breaker.state == "half_open"
    assert breaker.allow()
    assert not breaker.allow()  # one probe at a time
    breaker.record(ok=False)
    assert breaker.state == "open"  # the probe failed: a new cooldown
    clock.now += 10.1
    assert breaker.allow()
    breaker.record(ok=True)
    assert breaker.state == "closed" and breaker.allow() and breaker.allow()


def test_abandoned_probe_frees_the_slot() -> None:
    clock = Clock()
    breaker = CircuitBreaker(Breaker(failures=1, cooldown_s=1), clock=clock)
    breaker.record(ok=False)
    clock.now += 2
    assert breaker.allow()
    breaker.abandon()
    assert breaker.allow()


def test_breakers_survive_reloads_unless_the_upstream_changes() -> None:
    breakers = Breakers()
    a = Upstream(url="http://127.0.0.1:1")
    breakers.sync({"a": a, "b": Upstream(url="http://127.0.0.1:2")})
    kept = breakers.get("a")
    assert kept is not None
    kept.record(ok=False)
    breakers.sync({"a": a})
    assert breakers.get("a") is kept and breakers.get("b") is None
    breakers.sync({"a": Upstream(url="http://127.0.0.1:3")})
    assert breakers.get("a") is not kept


@pytest.fixture(scope="module")
def failing(upstream_logs: Path) -> Iterator[Echo]:
    with echo_upstream("failing", upstream_logs, "--status", "500") as echo:
        yield echo


def test_open_breaker_sends_reads_straight_to_the_fallback(
    tmp_path: Path, monolith: Echo, failing: Echo
) -> None:
    text = routes_yaml(
        {
            "monolith": upstream(monolith.url),
            "failing": upstream(failing.url, breaker={"failures": 3, "cooldown_s": 4}),
        },
        [
            route(
                "moved",
                match={"path_prefix": "/api/", "methods": ["GET", "HEAD", "POST"]},
                mode="extracted",
                target="failing",
                fallback="monolith",
            )
        ],
    )
    with running_proxy(tmp_path, text) as proxy, httpx.Client(base_url=proxy.url) as client:
        answers = [client.get(f"/api/b/{n}/") for n in range(10)]
        assert [r.status_code for r in answers] == [200] * 10
        assert {r.headers["X-Strangler-Upstream"] for r in answers} == {"monolith"}
        tried = [p for p in failing.seen_paths() if p.startswith("/api/b/")]
        assert tried == ["/api/b/0/", "/api/b/1/", "/api/b/2/"]  # then the circuit opened
        stats = proxy.admin_json("/admin/stats")
        assert stats["upstreams"]["failing"]["breaker"] in ("open", "half_open")
        assert stats["routes"]["moved"]["fallbacks"] == 10
        metrics = httpx.get(f"{proxy.admin_url}/metrics").text
        assert 'strangler_proxy_breaker_open{upstream="failing"} 1.0' in metrics

        # After the cooldown one probe tries the target again (and, failing, re-opens it).
        wait_for(
            lambda: (
                client.get("/api/probe/").status_code == 200
                and "/api/probe/" in failing.seen_paths()
            ),
            message="a half-open probe",
        )
        # Writes are never diverted: with the circuit open they still go to their upstream.
        assert proxy.admin_json("/admin/stats")["upstreams"]["failing"]["breaker"] != "closed"
        write = client.post("/api/w/", json={})
        assert (write.status_code, write.headers["X-Strangler-Upstream"]) == (500, "failing")
        assert "/api/w/" in failing.seen_paths() and "/api/w/" not in monolith.seen_paths()


def budget(**overrides: Any) -> Retry:
    return Retry(**overrides)


def test_retry_budget_allows_min_concurrent_then_a_share_of_active_requests() -> None:
    budgets = RetryBudgets()
    retry = budget(budget_percent=20, min_concurrent=3)
    for _ in range(10):
        budgets.begin("inv")
    granted = [budgets.try_retry("inv", retry) for _ in range(5)]
    assert granted == [True, True, True, False, False]  # 20% of 10 = 2 < the minimum of 3
    for _ in range(10):
        budgets.begin("inv")  # 20 in flight: 20% = 4
    assert budgets.try_retry("inv", retry) and not budgets.try_retry("inv", retry)
    budgets.retry_done("inv")
    assert budgets.try_retry("inv", retry)
    assert budgets.in_flight("inv") == (20, 4)
    assert budgets.try_retry("other", budget(min_concurrent=0, budget_percent=100)) is False


@pytest.mark.parametrize(
    ("method", "failure", "status", "retried"),
    [
        ("GET", "connect", None, True),
        ("HEAD", "protocol", None, True),
        ("OPTIONS", None, 502, True),
        ("PUT", None, 503, True),
        ("DELETE", None, 504, True),
        ("GET", "timeout", None, False),
        ("GET", None, 500, False),
        ("GET", None, 404, False),
        ("POST", "connect", None, False),
        ("PATCH", None, 503, False),
    ],
)
def test_only_idempotent_methods_are_retried_and_only_on_gateway_failures(
    method: str, failure: Any, status: int | None, retried: bool
) -> None:
    assert should_retry(method, failure=failure, status=status) is retried


def retries_metric(proxy: RunningProxy, name: str, upstream_name: str) -> float:
    text = httpx.get(f"{proxy.admin_url}/metrics").text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels.get("upstream") == upstream_name:
                return float(sample.value)
    return 0.0


def test_idempotent_requests_are_retried_once_under_the_budget(
    tmp_path: Path, monolith: Echo, failing: Echo
) -> None:
    text = routes_yaml(
        {
            "monolith": upstream(monolith.url),
            "failing": upstream(failing.url, breaker={"failures": 1000}),
            "stingy": upstream(
                failing.url,
                breaker={"failures": 1000},
                retry={"budget_percent": 0, "min_concurrent": 0},
            ),
        },
        [
            route("all", match={"path_prefix": "/r/"}, mode="extracted", target="failing"),
            route("stingy", match={"path_prefix": "/s/"}, mode="extracted", target="stingy"),
        ],
    )
    with running_proxy(tmp_path, text) as proxy, httpx.Client(base_url=proxy.url) as client:
        for method in ("GET", "PUT", "DELETE", "POST", "PATCH"):
            path = f"/r/{method.lower()}-{random_suffix()}/"
            answer = client.request(method, path, content=b"x", headers={"X-Echo-Status": "503"})
            assert answer.status_code == 503
            sent = failing.seen_paths().count(path)
            assert sent == (1 if method in ("POST", "PATCH") else 2), method
        assert retries_metric(proxy, "strangler_proxy_upstream_retries_total", "failing") == 3
        # A 500 says the request failed, not the gateway: not retried.
        path = f"/r/{random_suffix()}/"
        assert client.get(path).status_code == 500
        assert failing.seen_paths().count(path) == 1
        path = f"/s/{random_suffix()}/"
        assert client.get(path, headers={"X-Echo-Status": "503"}).status_code == 503
        assert failing.seen_paths().count(path) == 1
        assert retries_metric(proxy, "strangler_proxy_retry_budget_exhausted_total", "stingy") == 1
        assert retries_metric(proxy, "strangler_proxy_upstream_retries_total", "stingy") == 0


def test_killing_the_target_under_read_load_fails_no_client_request(
    tmp_path: Path, monolith: Echo
) -> None:
    with echo_upstream("victim", tmp_path / "logs") as victim:
        text = routes_yaml(
            {"monolith": upstream(monolith.url), "victim": upstream(victim.url)},
            [route("moved", mode="extracted", target="victim", fallback="monolith")],
        )
        with running_proxy(tmp_path, text) as proxy:
            outcomes: list[tuple[int, str]] = []
            stop = threading.Event()

            def reader(n: int) -> None:
                with httpx.Client(base_url=proxy.url, timeout=10) as client:
                    while not stop.is_set():
                        try:
                            resp = client.get(f"/api/load/{n}/")
                            outcomes.append(
                                (resp.status_code, resp.headers["X-Strangler-Upstream"])
                            )
                        except httpx.HTTPError as err:
                            outcomes.append((0, type(err).__name__))

            threads = [threading.Thread(target=reader, args=(n,)) for n in range(6)]
            for thread in threads:
                thread.start()
            try:
                wait_for(
                    lambda: sum(u == "victim" for _, u in outcomes) >= 50,
                    message="load on the target",
                )
                victim.process.kill()  # SIGKILL: no goodbye, connections just die
                killed_at = len(outcomes)
                wait_for(
                    lambda: sum(u == "monolith" for _, u in outcomes[killed_at:]) >= 200,
                    message="load carried on by the fallback",
                )
            finally:
                stop.set()
                for thread in threads:
                    thread.join()
    failed = [o for o in outcomes if o[0] != 200]
    assert failed == [], f"{len(failed)} of {len(outcomes)} requests failed: {failed[:5]}"
    assert {u for _, u in outcomes} == {"victim", "monolith"}
