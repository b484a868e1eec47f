"""Circuit breakers: the state machine (pure, with a hand-driven clock) and, on real processes,
reads skipping an open target for the fallback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from proxy.config import Breaker, Upstream
from proxy.resilience import Breakers, CircuitBreaker
from tests.proxy.harness import Echo, echo_upstream, route, routes_yaml, running_proxy, upstream
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
