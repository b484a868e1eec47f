"""The proxy as a real process in front of real upstream processes: modes, header hygiene,
limits, errors and fallback."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from proxy.sticky import bucket_of
from tests.proxy.harness import (
    Echo,
    RunningProxy,
    dead_url,
    echo_upstream,
    raw_request,
    route,
    routes_yaml,
    running_proxy,
    upstream,
)
from tests.support.random_refs import random_suffix

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
#: The sync token of this module's proxy: what an internal caller proves itself with.
SYNC_TOKEN = f"sync-{random_suffix()}"


def headers_of(resp: httpx.Response) -> dict[str, list[str]]:
    """The headers the echo upstream received, lower-cased names -> values."""
    seen: dict[str, list[str]] = {}
    for name, value in resp.json()["headers"]:
        seen.setdefault(name.lower(), []).append(value)
    return seen


STICKY_KINDS = {"jwt": "jwt:sub", "cookie": "cookie:sid", "header": "header:X-Client-Id"}


def jwt_for(subject: str) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'HS256'})}.{part({'sub': subject})}.c2ln"


def key_headers(kind: str, key: str) -> dict[str, str]:
    """Request headers that carry ``key`` the way a ``kind`` sticky route reads it."""
    return {
        "jwt": {"Authorization": f"Bearer {jwt_for(key)}"},
        "cookie": {"Cookie": f"theme=dark; sid={key}"},
        "header": {"X-Client-Id": key},
    }[kind]


@pytest.fixture(scope="module")
def failing(upstream_logs: Path) -> Iterator[Echo]:
    with echo_upstream("failing", upstream_logs, "--status", "503") as echo:
        yield echo


@pytest.fixture(scope="module")
def proxy(
    tmp_path_factory: pytest.TempPathFactory, monolith: Echo, inventory: Echo, failing: Echo
) -> Iterator[RunningProxy]:
    """One proxy with a route per case (routes are told apart by path prefix)."""
    var = tmp_path_factory.mktemp("var")
    methods: dict[str, Any] = {"methods": ["GET", "HEAD", "POST"]}
    text = routes_yaml(
        {
            "monolith": upstream(monolith.url),
            "inventory": upstream(inventory.url, timeout_s=0.5),
            "dead": upstream(dead_url()),
            "failing": upstream(failing.url),
        },
        [
            route("mono", match={"path_prefix": "/mono/", **methods}, target="inventory"),
            route(
                "moved",
                match={"path_prefix": "/moved/", **methods},
                mode="extracted",
                target="inventory",
            ),
            route(
                "canary-half",
                match={"path_prefix": "/canary/"},
                mode="canary",
                target="inventory",
                percent=50,
                sticky="header:X-Client-Id",
            ),
            *[
                route(
                    f"canary-{kind}",
                    match={"path_prefix": f"/canary-{kind}/"},
                    mode="canary",
                    target="inventory",
                    percent=37.25,
                    sticky=sticky,
                )
                for kind, sticky in STICKY_KINDS.items()
            ],
            route(
                "dead-fb",
                match={"path_prefix": "/dead-fb/", **methods},
                mode="extracted",
                target="dead",
                fallback="monolith",
            ),
            route(
                "dead-nofb",
                match={"path_prefix": "/dead/", **methods},
                mode="extracted",
                target="dead",
            ),
            route(
                "failing-fb",
                match={"path_prefix": "/failing-fb/", **methods},
                mode="extracted",
                target="failing",
                fallback="monolith",
            ),
        ],
    )
    with running_proxy(
        var, text, PROXY_MAX_BODY_BYTES="1024", STRANGLER_SYNC_TOKEN=SYNC_TOKEN
    ) as running:
        yield running


def test_modes_choose_the_upstream(proxy: RunningProxy) -> None:
    mono = httpx.get(f"{proxy.url}/mono/x/")
    assert mono.json()["upstream"] == "monolith"
    assert mono.headers["X-Strangler-Upstream"] == "monolith"
    assert mono.headers["X-Strangler-Route"] == "mono"
    moved = httpx.get(f"{proxy.url}/moved/x/")
    assert (moved.json()["upstream"], moved.headers["X-Strangler-Upstream"]) == ("inventory",) * 2
    # A path no route names is not public: the proxy answers 404 and no upstream sees it.
    unrouted = httpx.get(f"{proxy.url}/elsewhere/")
    assert unrouted.status_code == 404
    assert unrouted.json()["error"] == "not_found"
    assert unrouted.headers["X-Strangler-Route"] == "-"


def test_canary_splits_by_sticky_key(proxy: RunningProxy) -> None:
    seen = set()
    with httpx.Client(base_url=proxy.url) as client:
        for n in range(40):
            key = f"client-{random_suffix()}-{n}"
            expected = "inventory" if bucket_of("canary-half", key) < 5000 else "monolith"
            for _ in range(2):  # sticky: the same key lands on the same side every time
                resp = client.get("/canary/x/", headers={"X-Client-Id": key})
                assert resp.headers["X-Strangler-Upstream"] == expected
            seen.add(expected)
    assert seen == {"inventory", "monolith"}


@pytest.mark.parametrize("kind", sorted(STICKY_KINDS))
def test_every_sticky_key_kind_picks_the_bucket_with_a_fractional_percent(
    proxy: RunningProxy, kind: str
) -> None:
    route_name = f"canary-{kind}"
    sides = set()
    with httpx.Client(base_url=proxy.url) as client:
        for n in range(40):
            key = f"user-{random_suffix()}-{n}"
            expected = "inventory" if bucket_of(route_name, key) < 3725 else "monolith"
            resp = client.get(f"/canary-{kind}/x/", headers=key_headers(kind, key))
            assert resp.headers["X-Strangler-Upstream"] == expected, key
            sides.add(expected)
        # No key in the request: the client address (127.0.0.1 here) picks the bucket.
        expected = "inventory" if bucket_of(route_name, "127.0.0.1") < 3725 else "monolith"
        for _ in range(3):
            resp = client.get(f"/canary-{kind}/x/")
            assert resp.headers["X-Strangler-Upstream"] == expected
    assert sides == {"inventory", "monolith"}


def test_path_and_query_pass_unchanged(proxy: RunningProxy) -> None:
    path = "/mono/caf%C3%A9/?page=2&page_size=5&q=a%20b&q=c"
    resp = httpx.get(f"{proxy.url}{path}")
    assert resp.json()["raw_path"] == path


def test_request_header_hygiene(proxy: RunningProxy) -> None:
    resp = httpx.get(
        f"{proxy.url}/mono/h/",
        headers={
            "Host": "shop.example:9999",
            "Connection": "X-Secret-Hop, keep-alive",
            "X-Secret-Hop": "must not pass",
            "Keep-Alive": "timeout=5",
            "Proxy-Authorization": "Basic c2VjcmV0",
            "TE": "trailers",
            "Upgrade": "websocket",
            "X-Strangler-Dry-Run": "1",
            "X-Strangler-Upstream": "inventory",
            "X-Forwarded-For": "6.6.6.6",
            "X-Forwarded-Host": "evil.example",
            "X-Forwarded-Proto": "https",
            "Forwarded": "for=6.6.6.6",
            "X-Kept": "yes",
        },
    )
    got = headers_of(resp)
    for gone in (
        "x-secret-hop",
        "keep-alive",
        "proxy-authorization",
        "te",
        "upgrade",
        "x-strangler-dry-run",
        "x-strangler-upstream",
        "forwarded",
    ):
        assert gone not in got, gone
    assert got.get("connection", []) in ([], ["keep-alive"])  # the proxy's own connection
    assert got["host"] == ["shop.example:9999"]
    assert got["x-forwarded-for"] == ["127.0.0.1"]
    assert got["x-forwarded-host"] == ["shop.example:9999"]
    assert got["x-forwarded-proto"] == ["http"]
    assert got["x-kept"] == ["yes"]


def test_response_header_hygiene(proxy: RunningProxy) -> None:
    resp = httpx.get(
        f"{proxy.url}/mono/r/",
        headers=[
            ("X-Echo-Respond-Header", "X-Resp-Hop: secret"),
            ("X-Echo-Respond-Header", "Connection: X-Resp-Hop"),
            ("X-Echo-Respond-Header", "Keep-Alive: timeout=99"),
            ("X-Echo-Respond-Header", "Proxy-Authenticate: Basic"),
            ("X-Echo-Respond-Header", "Set-Cookie: a=1"),
            ("X-Echo-Respond-Header", "Set-Cookie: b=2"),
        ],
    )
    assert resp.status_code == 200
    assert "X-Resp-Hop" not in resp.headers
    assert "Proxy-Authenticate" not in resp.headers
    assert resp.headers.get("Keep-Alive") != "timeout=99"
    assert resp.headers.get_list("Set-Cookie") == ["a=1", "b=2"]


def test_request_id_and_traceparent(proxy: RunningProxy) -> None:
    given = httpx.get(
        f"{proxy.url}/mono/t/",
        headers={"X-Request-Id": "req-123", "traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01"},
    )
    got = headers_of(given)
    assert got["x-request-id"] == ["req-123"]
    assert given.headers["X-Request-Id"] == "req-123"
    (parent,) = got["traceparent"]
    assert parent.startswith(f"00-{TRACE_ID}-") and parent.endswith("-01")

    fresh = httpx.get(f"{proxy.url}/mono/t/", headers={"X-Request-Id": "bad id\twith tab"})
    (rid,) = headers_of(fresh)["x-request-id"]
    assert rid != "bad id\twith tab" and fresh.headers["X-Request-Id"] == rid
    (started,) = headers_of(fresh)["traceparent"]
    assert len(started.split("-")) == 4 and started.split("-")[1] != TRACE_ID


def test_internal_paths_are_answered_404(proxy: RunningProxy, monolith: Echo) -> None:
    path = f"/internal/outbox/stats?{random_suffix()}"
    resp = httpx.get(f"{proxy.url}{path}")
    assert resp.status_code == 404
    assert resp.json() == {"error": "not_found", "detail": "Not found."}
    assert path not in monolith.seen_paths()


def test_ambiguous_paths_are_refused(proxy: RunningProxy, monolith: Echo) -> None:
    tag = random_suffix()
    for target in (
        f"/mono/{tag}/a%2Fb/",
        f"/mono/{tag}/%2e%2e/x",
        f"/mono/{tag}/../x",
        f"/mono/{tag}/a%5Cb",
        f"/mono/{tag}/..;/x/",
        f"/mono/{tag}/..;jsessionid=1/x/",
        f"/mono/{tag}/.;/x/",
        f"/mono/{tag}/#/x/",
        "http://evil.example/mono/x/",
    ):
        status, body = raw_request(proxy.url, target)
        assert status == 400, target
        assert json.loads(body)["error"] == "malformed_request"
    assert not any(tag in p for p in monolith.seen_paths())


def test_body_limit(proxy: RunningProxy, monolith: Echo) -> None:
    small = httpx.post(f"{proxy.url}/mono/b/", content=b"x" * 1024)
    assert small.status_code == 200 and small.json()["body"] == "x" * 1024
    tag = random_suffix()
    big = httpx.post(f"{proxy.url}/mono/b/{tag}/", content=b"x" * 1025)
    assert big.status_code == 413
    assert big.json()["error"] == "payload_too_large"

    def chunks() -> Iterator[bytes]:
        for _ in range(3):
            yield b"y" * 600

    chunked = httpx.post(f"{proxy.url}/mono/b/{tag}/", content=chunks())
    assert chunked.status_code == 413
    assert not any(tag in p for p in monolith.seen_paths())


def test_head_keeps_the_announced_length(proxy: RunningProxy) -> None:
    get = httpx.get(f"{proxy.url}/mono/head/")
    head = httpx.head(f"{proxy.url}/mono/head/")
    assert head.status_code == 200 and head.content == b""
    # The echo's HEAD body would be the GET body with "HEAD" for "GET": one byte longer.
    assert int(head.headers["Content-Length"]) == len(get.content) + 1


def test_an_internal_callers_dry_run_crosses_the_facade(proxy: RunningProxy) -> None:
    """Only a write whose ``X-Strangler-Caller`` is the sync token keeps its dry run; the proof
    itself never reaches an upstream."""
    asked = {"X-Strangler-Dry-Run": "1"}
    cases = [
        ("POST", {**asked, "X-Strangler-Caller": SYNC_TOKEN}, ["1"]),
        ("POST", {**asked, "X-Strangler-Caller": SYNC_TOKEN + "x"}, []),
        ("POST", {**asked, "X-Strangler-Caller": ""}, []),
        ("POST", asked, []),
        ("POST", {"X-Strangler-Dry-Run": "yes", "X-Strangler-Caller": SYNC_TOKEN}, []),
        ("GET", {**asked, "X-Strangler-Caller": SYNC_TOKEN}, []),  # reads never dry-run
    ]
    for method, headers, kept in cases:
        got = headers_of(httpx.request(method, f"{proxy.url}/mono/dry/", headers=headers))
        assert (got.get("x-strangler-dry-run", []), got.get("x-strangler-caller")) == (
            kept,
            None,
        ), (
            method,
            headers,
        )


def test_unreachable_upstream_is_502(proxy: RunningProxy) -> None:
    resp = httpx.get(f"{proxy.url}/dead/x/")
    assert resp.status_code == 502
    body = resp.json()
    assert body["error"] == "bad_gateway" and "dead" in body["detail"]
    # Never connected: an internal caller knows nothing needs undoing there.
    assert (resp.headers["X-Strangler-Upstream"], resp.headers["X-Strangler-Unreached"]) == (
        "-",
        "1",
    )


def test_slow_upstream_is_504(proxy: RunningProxy) -> None:
    resp = httpx.get(f"{proxy.url}/moved/slow/", headers={"X-Echo-Delay": "3"}, timeout=10)
    assert resp.status_code == 504
    assert resp.json()["error"] == "gateway_timeout"
    assert "X-Strangler-Unreached" not in resp.headers  # it was sent: it may have been done


def test_dead_target_falls_back_for_every_read(proxy: RunningProxy) -> None:
    before = proxy.stats("dead-fb").get("fallbacks", 0)
    with httpx.Client(base_url=proxy.url) as client:
        answers = [client.get(f"/dead-fb/item/{n}/") for n in range(30)]
    assert [r.status_code for r in answers] == [200] * 30
    assert {r.headers["X-Strangler-Upstream"] for r in answers} == {"monolith"}
    assert proxy.stats("dead-fb")["fallbacks"] == before + 30


def test_failing_target_5xx_falls_back_for_reads(proxy: RunningProxy, failing: Echo) -> None:
    path = f"/failing-fb/{random_suffix()}/"
    resp = httpx.get(f"{proxy.url}{path}")
    assert resp.status_code == 200 and resp.headers["X-Strangler-Upstream"] == "monolith"
    assert failing.seen_paths().count(path) == 2  # a 503 is retried once, then the fallback


def test_writes_are_never_sent_twice(proxy: RunningProxy, monolith: Echo, failing: Echo) -> None:
    dead_path = f"/dead-fb/{random_suffix()}/"
    dead = httpx.post(f"{proxy.url}{dead_path}", json={"a": 1})
    assert dead.status_code == 502
    failing_path = f"/failing-fb/{random_suffix()}/"
    failed = httpx.post(f"{proxy.url}{failing_path}", json={"a": 1})
    assert failed.status_code == 503 and failed.headers["X-Strangler-Upstream"] == "failing"
    assert failing.seen_paths().count(failing_path) == 1
    seen = monolith.seen_paths()
    assert dead_path not in seen and failing_path not in seen
