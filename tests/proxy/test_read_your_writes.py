"""Read-your-writes: the memory (pure, fake clock), the decision, and a real proxy between two
real upstreams."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from multidict import CIMultiDict

from proxy.config import RouteTable
from proxy.read_your_writes import WriteMemory
from proxy.routing import RequestFacts, Router
from tests.proxy.harness import Echo, RunningProxy, route, routes_yaml, running_proxy, upstream
from tests.support.random_refs import random_suffix
from tests.support.waiting import wait_for

WRITES = ["POST", "PUT", "PATCH", "DELETE"]


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_memory_keeps_a_write_for_its_window_only() -> None:
    clock = FakeClock()
    memory = WriteMemory(max_entries=10, clock=clock)
    memory.remember("inv", "k1", "inventory", 5)
    assert memory.pinned("inv", "k1") == ("inventory", 5)
    assert memory.pinned("other-group", "k1") is None
    clock.now += 4.5
    assert memory.pinned("inv", "k1") == ("inventory", 0.5)
    memory.remember("inv", "k1", "monolith", 5)  # the latest write wins and restarts the window
    clock.now += 4.5
    assert memory.pinned("inv", "k1") == ("monolith", 0.5)
    clock.now += 0.5
    assert memory.pinned("inv", "k1") is None
    assert len(memory) == 0  # an expired entry is dropped when seen


def test_memory_is_bounded_and_forgets_the_oldest_write_first() -> None:
    memory = WriteMemory(max_entries=3, clock=FakeClock())
    for key in ("a", "b", "c"):
        memory.remember("g", key, "inventory", 60)
    memory.remember("g", "a", "inventory", 60)  # a is now the most recent
    memory.remember("g", "d", "inventory", 60)
    assert len(memory) == 3
    assert memory.pinned("g", "b") is None
    assert all(memory.pinned("g", key) for key in ("a", "c", "d"))
    with pytest.raises(ValueError):
        WriteMemory(max_entries=0)


def pair(
    *, reads: dict[str, Any], writes: dict[str, Any], window_s: float, prefix: str = "/api/"
) -> list[dict[str, Any]]:
    """A reads route and a writes route on ``prefix`` sharing one read-your-writes group."""
    common = {"target": "inventory", "sticky": "header:X-Client-Id"}
    ryw = {"window_s": window_s, "group": "inv"}
    return [
        route(
            f"reads-{random_suffix()}",
            match={"path_prefix": prefix, "methods": ["GET", "HEAD"]},
            read_your_writes=ryw,
            **common,
            **reads,
        ),
        route(
            f"writes-{random_suffix()}",
            match={"path_prefix": prefix, "methods": WRITES},
            read_your_writes=ryw,
            **common,
            **writes,
        ),
    ]


def decide(router: Router, method: str, key: str, memory: WriteMemory | None) -> str | None:
    facts = RequestFacts(method, "/api/x/", CIMultiDict({"X-Client-Id": key}), "10.0.0.1")
    return router.decide(facts, None, memory).primary


def test_decision_pins_reads_of_the_group_to_the_writes_upstream() -> None:
    routes = pair(reads={"mode": "monolith"}, writes={"mode": "extracted"}, window_s=5)
    table = RouteTable.model_validate(
        {
            "upstreams": {"monolith": upstream("http://a:1"), "inventory": upstream("http://b:1")},
            "routes": routes,
        }
    )
    router, clock = Router(table), FakeClock()
    memory = WriteMemory(clock=clock)
    assert decide(router, "GET", "k1", memory) == "monolith"
    memory.remember("inv", "k1", "inventory", 5)
    assert decide(router, "GET", "k1", memory) == "inventory"
    assert decide(router, "HEAD", "k1", memory) == "inventory"
    assert decide(router, "GET", "k2", memory) == "monolith"  # another client
    assert decide(router, "GET", "k1", None) == "monolith"  # explain: no memory consulted
    clock.now += 5
    assert decide(router, "GET", "k1", memory) == "monolith"


@pytest.fixture
def proxy_for(tmp_path: Path, monolith: Echo, inventory: Echo) -> Iterator[Any]:
    """Start a proxy for a list of routes (one per test)."""
    with ExitStack() as stack:

        def start(routes: list[dict[str, Any]]) -> RunningProxy:
            ups = {"monolith": upstream(monolith.url), "inventory": upstream(inventory.url)}
            return stack.enter_context(running_proxy(tmp_path, routes_yaml(ups, routes)))

        yield start


def side(client: httpx.Client, method: str, key: str) -> str:
    resp = client.request(method, "/api/items/", headers={"X-Client-Id": key}, content=b"{}")
    assert resp.status_code == 200, resp.text
    return resp.headers["X-Strangler-Upstream"]


def test_reads_follow_a_write_to_the_service_until_the_window_ends(proxy_for: Any) -> None:
    proxy = proxy_for(pair(reads={"mode": "monolith"}, writes={"mode": "extracted"}, window_s=3))
    writer, bystander = f"w-{random_suffix()}", f"b-{random_suffix()}"
    with httpx.Client(base_url=proxy.url, timeout=10) as client:
        assert side(client, "GET", writer) == "monolith"
        assert side(client, "POST", writer) == "inventory"
        assert [side(client, "GET", writer) for _ in range(3)] == ["inventory"] * 3
        assert side(client, "GET", bystander) == "monolith"
        wait_for(lambda: side(client, "GET", writer) == "monolith", message="the window to end")

        # A write the service failed (5xx) changed nothing there: reads are not pinned to it.
        failed = client.post(
            "/api/items/", headers={"X-Client-Id": bystander, "X-Echo-Status": "503"}
        )
        assert (failed.status_code, failed.headers["X-Strangler-Upstream"]) == (503, "inventory")
        assert side(client, "GET", bystander) == "monolith"


def test_reads_canaried_to_the_service_stay_on_the_monolith_after_a_monolith_write(
    proxy_for: Any,
) -> None:
    proxy = proxy_for(
        pair(reads={"mode": "canary", "percent": 100}, writes={"mode": "monolith"}, window_s=30)
    )
    writer, bystander = f"w-{random_suffix()}", f"b-{random_suffix()}"
    with httpx.Client(base_url=proxy.url, timeout=10) as client:
        assert side(client, "GET", writer) == "inventory"
        assert side(client, "DELETE", writer) == "monolith"
        assert side(client, "GET", writer) == "monolith"
        assert side(client, "GET", bystander) == "inventory"
