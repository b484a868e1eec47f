"""The façade refuses what it should, one class of probe at a time, against a real proxy in front
of a real (echo) upstream that reports every request it received:

* chunked trailers never become request headers upstream;
* the whole request head has a size cap (431), not only each line and the line count;
* CONNECT, TRACE and TRACK are answered by the proxy (405), never forwarded;
* nothing pipelined behind a refusal, or behind a request that said it was the last, reaches an
  upstream;
* client-address headers of every convention are never forwarded as sent; ``X-Real-IP`` is the
  proxy's;
* an over-limit body gets a 413 the client can read, even when it sends everything first.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from tests.proxy.harness import Echo, RunningProxy, echo_upstream, routes_yaml, running_proxy
from tests.proxy.harness import upstream as upstream_spec
from tests.support.random_refs import random_suffix

MAX_BODY = 64 * 1024
MAX_HEAD = 16 * 1024
ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


@pytest.fixture(scope="module")
def echo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Echo]:
    with echo_upstream("monolith", tmp_path_factory.mktemp("echo-logs")) as running:
        yield running


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory, echo: Echo) -> Iterator[RunningProxy]:
    table = routes_yaml(
        {"monolith": upstream_spec(echo.url)},
        [{"name": "api", "match": {"path_prefix": "/api/"}, "mode": "monolith"}],
    )
    with running_proxy(
        tmp_path_factory.mktemp("proxy"),
        table,
        PROXY_MAX_BODY_BYTES=str(MAX_BODY),
        PROXY_MAX_HEAD_BYTES=str(MAX_HEAD),
    ) as running:
        yield running


def exchange(proxy: RunningProxy, data: bytes, *, read_timeout: float = 5.0) -> bytes:
    """Send ``data`` as it is, then read until the proxy closes or goes quiet."""
    host, _, port = proxy.url.removeprefix("http://").partition(":")
    with socket.create_connection((host, int(port)), timeout=read_timeout) as sock:
        sock.sendall(data)
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except TimeoutError:
            pass
    return received


def statuses(answer: bytes) -> list[int]:
    """The statuses of every answer in ``answer``, in order."""
    found = []
    for line in answer.split(b"\r\n"):
        if line.startswith(b"HTTP/1.1 "):
            found.append(int(line.split(b" ")[1]))
    return found


def seen(echo: Echo, marker: str) -> list[dict[str, object]]:
    return [r for r in echo.seen() if marker in str(r["raw_path"])]


def headers_of(request: dict[str, object]) -> list[tuple[str, str]]:
    return [(str(n), str(v)) for n, v in request["headers"]]  # type: ignore[attr-defined]


# -- trailers -----------------------------------------------------------------------------------

TRAILER_NAMES = [
    "Host", "host", "HOST", "X-Strangler-Dry-Run", "X-Strangler-Route", "Authorization",
    "Cookie", "Content-Length", "Transfer-Encoding", "Content-Type", "X-Forwarded-For",
    "X-Forwarded-Host", "X-Forwarded-Proto", "Forwarded", "X-Real-IP", "True-Client-IP",
    "X-Request-Id", "traceparent", "Connection", "Expect", "Idempotency-Key", "X-Client-Id",
    "X-Http-Method-Override", "Origin", "Referer", "User-Agent", "Accept", "X-Custom",
    "Proxy-Authorization", "Upgrade",
]  # fmt: skip


@pytest.mark.parametrize("name", TRAILER_NAMES)
def test_a_trailer_never_becomes_a_request_header_upstream(
    proxy: RunningProxy, echo: Echo, name: str
) -> None:
    marker = f"trailer-{random_suffix()}"
    request = (
        f"POST /api/{marker}/ HTTP/1.1\r\nHost: shop\r\nTransfer-Encoding: chunked\r\n"
        f"Content-Type: application/json\r\nConnection: close\r\n\r\n"
        f"2\r\n{{}}\r\n0\r\n{name}: trailer-value-{marker}\r\n\r\n"
    ).encode()
    answer = exchange(proxy, request)
    if statuses(answer) == [400]:  # llhttp refuses a framing header as a trailer: fine too
        assert seen(echo, marker) == []
        return
    assert statuses(answer) == [200], answer[:300]
    (got,) = seen(echo, marker)
    upstream_headers = headers_of(got)
    assert not [v for _, v in upstream_headers if marker in v], upstream_headers
    assert [n for n, _ in upstream_headers if n.lower() == "host"] == ["Host"]
    assert got["body"] == "{}"


def test_too_many_trailers_are_refused_and_nothing_goes_upstream(
    proxy: RunningProxy, echo: Echo
) -> None:
    marker = f"trailers-{random_suffix()}"
    trailers = "".join(f"X-T{n}: v\r\n" for n in range(150))
    request = (
        f"POST /api/{marker}/ HTTP/1.1\r\nHost: shop\r\nTransfer-Encoding: chunked\r\n\r\n"
        f"2\r\n{{}}\r\n0\r\n{trailers}\r\n"
    ).encode()
    assert statuses(exchange(proxy, request)) == [431]
    assert seen(echo, marker) == []


# -- the whole head ------------------------------------------------------------------------------

HEAD_SHAPES = [(count, size) for count in (3, 5, 9, 17, 33) for size in (1000, 2000, 4000, 7000)]


@pytest.mark.parametrize(("count", "size"), HEAD_SHAPES)
def test_a_head_over_the_total_cap_is_431_under_it_served(
    proxy: RunningProxy, echo: Echo, count: int, size: int
) -> None:
    marker = f"head-{random_suffix()}"
    lines = "".join(f"X-Pad-{n}: {'a' * size}\r\n" for n in range(count))
    request = f"GET /api/{marker}/ HTTP/1.1\r\nHost: shop\r\n{lines}Connection: close\r\n\r\n"
    answer = exchange(proxy, request.encode())
    if len(request) > MAX_HEAD:
        assert statuses(answer) == [431]
        assert seen(echo, marker) == []
    else:
        assert statuses(answer) == [200]
        assert len(seen(echo, marker)) == 1


@pytest.mark.parametrize("count", [20, 60, 99])
def test_a_trailer_section_over_the_total_cap_is_431(
    proxy: RunningProxy, echo: Echo, count: int
) -> None:
    marker = f"trailer-size-{random_suffix()}"
    trailers = "".join(f"X-T{n}: {'b' * 1000}\r\n" for n in range(count))
    request = (
        f"POST /api/{marker}/ HTTP/1.1\r\nHost: shop\r\nTransfer-Encoding: chunked\r\n\r\n"
        f"2\r\n{{}}\r\n0\r\n{trailers}\r\n"
    ).encode()
    assert statuses(exchange(proxy, request)) == [431]
    assert seen(echo, marker) == []


# -- methods -------------------------------------------------------------------------------------

REFUSED_TARGETS = [
    ("CONNECT", "shop.example:443"), ("CONNECT", "127.0.0.1:22"), ("CONNECT", "[::1]:80"),
    ("CONNECT", "/api/connect/"), ("CONNECT", "localhost:5432"),
    *[("TRACE", path) for path in ("/", "/api/", "/api/x/", "/admin/", "/metrics", "/internal/",
                                   "/api/orders/", "/api/%2e%2e/", "*", "/api/x?y=1")],
    *[("TRACK", path) for path in ("/", "/api/", "/api/x/", "/admin/", "/api/orders/")],
    *[("trace", path) for path in ("/api/", "/")],
    ("TRACE", "http://shop/api/"), ("TRACE", "/api/long" + "x" * 500),
    ("CONNECT", "shop:80"), ("CONNECT", "10.0.0.1:6379"), ("TRACK", "*"),
    ("CONNECT", "example.com:8080"), ("TRACE", "/api/?a=b&c=d"),
]  # fmt: skip


@pytest.mark.parametrize(("method", "target"), REFUSED_TARGETS)
def test_connect_trace_and_track_are_answered_by_the_proxy(
    proxy: RunningProxy, echo: Echo, method: str, target: str
) -> None:
    before = len(echo.seen())
    answer = exchange(proxy, f"{method} {target} HTTP/1.1\r\nHost: shop\r\n\r\n".encode())
    assert statuses(answer)[:1] in ([405], [400]), answer[:200]
    assert len(echo.seen()) == before


# -- pipelined behind a refusal -------------------------------------------------------------------

REFUSALS = [
    "TRACE /api/ HTTP/1.1\r\nHost: shop\r\n\r\n",
    "GET /api/%2F/ HTTP/1.1\r\nHost: shop\r\n\r\n",
    "GET /api/a#b HTTP/1.1\r\nHost: shop\r\n\r\n",
    "GET /api/../x HTTP/1.1\r\nHost: shop\r\n\r\n",
    "GET /api/x/ HTTP/1.1\r\nHost: shop\r\nConnection: close\r\n\r\n",
    "GET /api/x/ HTTP/1.0\r\nHost: shop\r\n\r\n",
    "GET /internal/x/ HTTP/1.1\r\nHost: shop\r\nConnection: close\r\n\r\n",
    f"POST /api/x/ HTTP/1.1\r\nHost: shop\r\nContent-Length: {MAX_BODY + 1}\r\n\r\n",
    "CONNECT shop:443 HTTP/1.1\r\nHost: shop\r\n\r\n",
    "TRACK /api/ HTTP/1.1\r\nHost: shop\r\n\r\n",
]
FOLLOWERS = ["POST", "DELETE", "PUT"]


@pytest.mark.parametrize("follower", FOLLOWERS)
@pytest.mark.parametrize("refusal", REFUSALS)
def test_nothing_pipelined_behind_a_refusal_or_a_last_request_reaches_an_upstream(
    proxy: RunningProxy, echo: Echo, refusal: str, follower: str
) -> None:
    marker = f"behind-{random_suffix()}"
    behind = f"{follower} /api/{marker}/ HTTP/1.1\r\nHost: shop\r\nContent-Length: 2\r\n\r\n{{}}"
    answer = exchange(proxy, (refusal + behind).encode())
    assert len(statuses(answer)) == 1, answer[:400]
    assert seen(echo, marker) == []


# -- client-address headers -----------------------------------------------------------------------

CLIENT_ADDRESS_HEADERS = [
    "X-Real-IP", "x-real-ip", "True-Client-IP", "X-Client-IP", "Client-IP", "CF-Connecting-IP",
    "Fastly-Client-IP", "Akamai-Client-IP", "X-Cluster-Client-IP", "X-Originating-IP",
    "X-Remote-IP", "X-Remote-Addr", "X-Original-Forwarded-For", "X-Original-Remote-Addr",
    "X-ProxyUser-Ip", "X-AppEngine-User-IP", "X-Azure-ClientIP", "X-Envoy-External-Address",
    "Forwarded-For", "X-Forwarded", "X-Forwarded-For", "Forwarded", "X-REAL-IP",
    "true-client-ip", "X-Forwarded-Host", "X-Forwarded-Proto",
]  # fmt: skip


@pytest.mark.parametrize("name", CLIENT_ADDRESS_HEADERS)
@pytest.mark.parametrize("value", ["6.6.6.6", "10.0.0.1, 6.6.6.6"])
def test_client_address_headers_are_never_forwarded_as_sent(
    proxy: RunningProxy, echo: Echo, name: str, value: str
) -> None:
    marker = f"addr-{random_suffix()}"
    request = (
        f"GET /api/{marker}/ HTTP/1.1\r\nHost: shop\r\n{name}: {value}\r\nConnection: close\r\n\r\n"
    )
    assert statuses(exchange(proxy, request.encode())) == [200]
    (got,) = seen(echo, marker)
    upstream_headers = headers_of(got)
    assert not [(n, v) for n, v in upstream_headers if "6.6.6.6" in v], upstream_headers
    assert [v for n, v in upstream_headers if n.lower() == "x-real-ip"] == ["127.0.0.1"]


# -- over-limit bodies ----------------------------------------------------------------------------


@pytest.mark.parametrize("size", [MAX_BODY + 1, 2 * MAX_BODY, 8 * MAX_BODY])
@pytest.mark.parametrize("framing", ["length", "chunked"])
def test_an_over_limit_body_sent_whole_before_reading_still_gets_its_413(
    proxy: RunningProxy, echo: Echo, size: int, framing: str
) -> None:
    marker = f"big-{random_suffix()}"
    body = b"x" * size
    if framing == "length":
        head = f"POST /api/{marker}/ HTTP/1.1\r\nHost: shop\r\nContent-Length: {size}\r\n\r\n"
        data = head.encode() + body
    else:
        head = f"POST /api/{marker}/ HTTP/1.1\r\nHost: shop\r\nTransfer-Encoding: chunked\r\n\r\n"
        data = head.encode() + b"%x\r\n" % size + body + b"\r\n0\r\n\r\n"
    host, _, port = proxy.url.removeprefix("http://").partition(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(data)  # the whole body first, as a client that does not read would
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    assert statuses(received) == [413], received[:200]
    assert b'"payload_too_large"' in received
    assert seen(echo, marker) == []
