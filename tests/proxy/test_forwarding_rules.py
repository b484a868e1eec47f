"""The forwarding rules against in-process upstreams (tests/proxy/fake_upstreams.py): retries
only for idempotent methods and under the budget, the fallback when the target fails or its
circuit is open, hop-by-hop headers dropped both ways. test_resilience and test_forwarding prove
the same over real processes."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from pathlib import Path
from typing import TypeVar, cast

import pytest

from proxy.config import Breaker, Retry, Upstream
from proxy.headers import ForwardedTrust
from proxy.listener import Listener
from proxy.metrics import ProxyMetrics
from proxy.read_your_writes import WriteMemory
from proxy.reload import RouteWatcher
from proxy.resilience import Breakers
from proxy.retrying import Forwarder
from proxy.routing import Decision
from proxy.settings import ProxySettings
from proxy.shadow import ShadowQueue
from proxy.upstream_client import UpstreamFailure, UpstreamResponse
from proxy.wire import ProxyError
from tests.proxy.fake_upstreams import Call, FakeUpstreams, answer

T = TypeVar("T")
HEAD = [b"GET /api/x/ HTTP/1.1\r\nHost: shop\r\n\r\n"]


def _run(coroutine: Awaitable[T]) -> T:
    async def main() -> T:
        return await coroutine

    return asyncio.run(main())


def _upstreams(retry: Retry | None = None, breaker: Breaker | None = None) -> dict[str, Upstream]:
    target = Upstream(
        url="http://inventory:8101", retry=retry or Retry(), breaker=breaker or Breaker()
    )
    return {"inventory": target, "monolith": Upstream(url="http://monolith:8000")}


def _decision(fallback: str | None = None) -> Decision:
    return Decision(
        route=None,
        mode="extracted",
        primary="inventory",
        shadow=None,
        fallback=fallback,
        bucket=None,
        reason="test",
    )


def _forwarder(fake: FakeUpstreams, upstreams: dict[str, Upstream]) -> Forwarder:
    breakers = Breakers()
    breakers.sync(upstreams)
    return Forwarder(fake, ProxyMetrics(), breakers)


def _statuses(*statuses: int) -> FakeUpstreams:
    """The target answers ``statuses`` in turn (the last one from then on); others 200."""
    left = list(statuses)

    def handler(call: Call) -> UpstreamResponse:
        if call.upstream != "inventory":
            return answer(200)
        return answer(left.pop(0) if len(left) > 1 else left[0])

    return FakeUpstreams(handler)


def _failing(kind: str = "connect") -> FakeUpstreams:
    def handler(call: Call) -> UpstreamResponse | UpstreamFailure:
        if call.upstream == "inventory":
            return UpstreamFailure("inventory", kind, "down")  # type: ignore[arg-type]
        return answer(200)

    return FakeUpstreams(handler)


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS", "PUT", "DELETE"])
def test_an_idempotent_request_is_retried_after_a_gateway_error(method: str) -> None:
    fake = _statuses(503, 200)
    upstreams = _upstreams()
    name, got = _run(_forwarder(fake, upstreams).forward(_decision(), upstreams, method, HEAD))
    assert (name, got.status, len(fake.calls)) == ("inventory", 200, 2)


@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_a_write_that_is_not_idempotent_is_never_retried(method: str) -> None:
    fake = _statuses(503, 200)
    upstreams = _upstreams()
    _, got = _run(_forwarder(fake, upstreams).forward(_decision(), upstreams, method, HEAD))
    assert (got.status, len(fake.calls)) == (503, 1)


def test_retries_stop_at_the_configured_attempts() -> None:
    fake = _statuses(502)
    upstreams = _upstreams(Retry(attempts=2))
    _, got = _run(_forwarder(fake, upstreams).forward(_decision(), upstreams, "GET", HEAD))
    assert (got.status, len(fake.calls)) == (502, 3)


def test_no_retry_is_sent_when_the_budget_has_no_room() -> None:
    fake = _statuses(503, 200)
    upstreams = _upstreams(Retry(attempts=1, budget_percent=0, min_concurrent=0))
    forwarder = _forwarder(fake, upstreams)
    _, got = _run(forwarder.forward(_decision(), upstreams, "GET", HEAD))
    assert (got.status, len(fake.calls)) == (503, 1)
    assert forwarder.budgets.in_flight("inventory") == (0, 0)


def test_a_timeout_is_not_retried_and_is_a_504() -> None:
    fake = _failing("timeout")
    upstreams = _upstreams()
    with pytest.raises(ProxyError) as refused:
        _run(_forwarder(fake, upstreams).forward(_decision(), upstreams, "GET", HEAD))
    assert (refused.value.status, len(fake.calls)) == (504, 1)


def test_a_read_falls_back_when_the_target_cannot_be_reached() -> None:
    fake = _failing("connect")
    upstreams = _upstreams(Retry(attempts=0))
    name, got = _run(
        _forwarder(fake, upstreams).forward(_decision("monolith"), upstreams, "GET", HEAD)
    )
    assert (name, got.status) == ("monolith", 200)
    assert [c.upstream for c in fake.calls] == ["inventory", "monolith"]


def test_a_read_falls_back_after_a_5xx_and_its_retries() -> None:
    fake = _statuses(503)
    upstreams = _upstreams(Retry(attempts=1))
    name, got = _run(
        _forwarder(fake, upstreams).forward(_decision("monolith"), upstreams, "GET", HEAD)
    )
    assert (name, got.status) == ("monolith", 200)
    assert [c.upstream for c in fake.calls] == ["inventory", "inventory", "monolith"]


def test_a_read_skips_an_open_circuit_for_the_fallback() -> None:
    fake = _statuses(200)
    upstreams = _upstreams(breaker=Breaker(failures=1, cooldown_s=60))
    forwarder = _forwarder(fake, upstreams)
    breaker = forwarder.breakers.get("inventory")
    assert breaker is not None
    breaker.record(ok=False)
    decision = _decision("monolith")
    assert forwarder.must_detour(decision, "GET")
    name, got = _run(forwarder.forward(decision, upstreams, "GET", HEAD))
    assert (name, got.status, [c.upstream for c in fake.calls]) == ("monolith", 200, ["monolith"])


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
def test_a_write_never_falls_back(method: str) -> None:
    fake = _failing("connect")
    upstreams = _upstreams(Retry(attempts=0))
    with pytest.raises(ProxyError) as refused:
        _run(_forwarder(fake, upstreams).forward(_decision("monolith"), upstreams, method, HEAD))
    assert refused.value.status == 502
    assert [c.upstream for c in fake.calls] == ["inventory"]


# --- the listener in front of a fake upstream ---------------------------------------------


class _Transport:
    """The client's side of a connection, as the listener writes to it."""

    def __init__(self) -> None:
        self.written = bytearray()
        self.closed = False

    def get_extra_info(self, name: str, default: object = None) -> object:
        return ("10.0.0.9", 50000) if name == "peername" else default

    def write(self, data: bytes) -> None:
        self.written += data

    def writelines(self, pieces: list[bytes]) -> None:
        for piece in pieces:
            self.written += piece

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def _exchange_through_listener(
    tmp_path: Path, request: bytes, upstream_answer: UpstreamResponse
) -> tuple[bytes, bytes]:
    """(the head the upstream got, the bytes the client got) for one request."""
    routes = tmp_path / "routes.yaml"
    routes.write_text(
        "upstreams:\n  monolith: {url: http://monolith:8000}\n"
        "routes: [{name: all, match: {path_prefix: /}, mode: monolith}]\n"
    )
    fake = FakeUpstreams(lambda call: upstream_answer)

    async def main() -> bytes:
        metrics = ProxyMetrics()
        listener = Listener(
            settings=ProxySettings(),
            watcher=RouteWatcher(routes),
            pool=fake,
            metrics=metrics,
            shadow=cast(ShadowQueue, None),  # monolith mode: no copy is ever made
            forwarder=Forwarder(fake, metrics, Breakers()),
            writes=WriteMemory(),
            trust=ForwardedTrust(),
        )
        transport = _Transport()
        connection = listener.connection()
        connection.connection_made(transport)  # type: ignore[arg-type]
        connection.data_received(request)
        for _ in range(10):
            await asyncio.sleep(0)
        return bytes(transport.written)

    written = asyncio.run(main())
    (call,) = fake.calls
    return call.head, written


def test_hop_by_hop_headers_are_dropped_both_ways(tmp_path: Path) -> None:
    request = (
        b"GET /api/x/ HTTP/1.1\r\nHost: shop\r\nConnection: keep-alive, X-Secret\r\n"
        b"X-Secret: 1\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nProxy-Authorization: x\r\n"
        b"X-Strangler-Dry-Run: 1\r\nX-Forwarded-For: 6.6.6.6\r\nAccept: */*\r\n\r\n"
    )
    upstream_answer = answer(
        200,
        [
            (b"Content-Type", b"application/json"),
            (b"Connection", b"X-Hop"),
            (b"X-Hop", b"1"),
            (b"Keep-Alive", b"timeout=2"),
            (b"Transfer-Encoding", b"chunked"),
            (b"Proxy-Authenticate", b"Basic"),
        ],
    )
    sent, written = _exchange_through_listener(tmp_path, request, upstream_answer)
    sent_names = {line.split(b":")[0].lower() for line in sent.split(b"\r\n")[1:] if line}
    assert sent_names.isdisjoint(
        {b"connection", b"x-secret", b"keep-alive", b"te", b"proxy-authorization"}
    )
    assert b"x-strangler-dry-run" not in sent_names
    assert b"X-Forwarded-For: 10.0.0.9\r\n" in sent and b"6.6.6.6" not in sent
    assert b"Accept: */*\r\n" in sent and b"Host: shop\r\n" in sent
    head = written.split(b"\r\n\r\n", 1)[0].lower()
    assert head.startswith(b"http/1.1 200 ok\r\n")
    for name in (b"\r\nconnection:", b"\r\nx-hop:", b"\r\nkeep-alive:", b"\r\ntransfer-encoding:"):
        assert name not in head
    assert b"\r\nproxy-authenticate:" not in head
    assert b"\r\nx-strangler-upstream: monolith" in head
    assert written.endswith(b"\r\n\r\n{}")
