"""The raw-protocol prototype (``bench/raw_proxy.py``) keeps the correctness its figures claim.

Real processes over real sockets: the prototype in front of the proxy tests' echo upstream
(which answers with what it received). Not a test of speed: ``bench.proxy_capacity
--variants nginx,proxy,raw`` measures that.
"""

from __future__ import annotations

import json
import re
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.proxy.harness import Echo, dead_url, echo_upstream
from tests.support.ports import free_port
from tests.support.processes import ServerProcess
from tests.support.random_refs import random_suffix
from tests.support.waiting import wait_for


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("raw-proxy-logs")


@pytest.fixture(scope="module")
def echo(logs: Path) -> Iterator[Echo]:
    with echo_upstream("monolith", logs) as upstream:
        yield upstream


@contextmanager
def raw_proxy(upstream_url: str, logs: Path) -> Iterator[int]:
    """``python -m bench.raw_proxy`` in front of ``upstream_url``; yields its port."""
    port = free_port()
    argv = [sys.executable, "-m", "bench.raw_proxy", "--listen", f"127.0.0.1:{port}"]
    with ServerProcess(f"raw-proxy-{port}", [*argv, "--upstream", upstream_url], log_dir=logs):
        _wait_listening(port)
        yield port


def _wait_listening(port: int) -> None:
    def accepts() -> bool:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            return False
        return True

    wait_for(accepts, timeout=30, message=f"raw proxy on {port} did not listen")


@pytest.fixture(scope="module")
def proxy(echo: Echo, logs: Path) -> Iterator[int]:
    with raw_proxy(echo.url, logs) as port:
        yield port


def exchange(port: int, data: bytes) -> bytes:
    """Send ``data`` on one connection; everything received until the proxy closes it."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return received


def answers(raw: bytes) -> list[tuple[int, bytes]]:
    """(status, body) of every Content-Length-framed answer in ``raw``, in order."""
    out: list[tuple[int, bytes]] = []
    while raw:
        head, _, rest = raw.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
        size = int(length.group(1)) if length else 0
        out.append((status, rest[:size]))
        raw = rest[size:]
    return out


def test_a_request_goes_upstream_with_hop_by_hop_dropped_and_our_forwarding_headers(
    proxy: int, echo: Echo
) -> None:
    path = f"/api/{random_suffix()}?q=1"
    raw = exchange(
        proxy,
        f"GET {path} HTTP/1.1\r\nHost: shop.test\r\nConnection: close, X-Private\r\n"
        "X-Private: secret\r\nX-Forwarded-For: 6.6.6.6\r\nX-Strangler-Upstream: forged\r\n"
        "X-Request-Id: req-42\r\nAccept: application/json\r\n\r\n".encode(),
    )
    [(status, body)] = answers(raw)
    seen = json.loads(body)
    headers = {name.lower(): value for name, value in seen["headers"]}
    assert status == 200 and seen["raw_path"] == path
    assert "x-private" not in headers and "connection" not in headers
    assert headers["x-forwarded-for"] == "127.0.0.1"
    assert "x-strangler-upstream" not in headers
    assert headers["x-request-id"] == "req-42" and headers["accept"] == "application/json"
    assert re.fullmatch(r"00-[0-9a-f]{32}-[0-9a-f]{16}-01", headers["traceparent"])
    assert b"X-Strangler-Upstream: monolith\r\n" in raw and b"X-Request-Id: req-42\r\n" in raw


def test_pipelined_requests_are_answered_in_order_and_a_head_answer_has_no_body(
    proxy: int,
) -> None:
    first, second = f"/api/{random_suffix()}", f"/api/{random_suffix()}"
    raw = exchange(
        proxy,
        f"GET {first} HTTP/1.1\r\nHost: x\r\n\r\nHEAD {first} HTTP/1.1\r\nHost: x\r\n\r\n"
        f"GET {second} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode(),
    )
    heads = re.findall(rb"HTTP/1.1 (\d+)", raw)
    assert heads == [b"200", b"200", b"200"]
    paths = re.findall(rb'"raw_path": "([^"]*)"', raw)
    assert paths == [first.encode(), second.encode()]  # two bodies: the HEAD answer had none


def test_a_chunked_upload_is_sent_upstream_with_a_content_length(proxy: int) -> None:
    raw = exchange(
        proxy,
        b"POST /api/upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        b"Connection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
    )
    [(status, body)] = answers(raw)
    seen = json.loads(body)
    framing = [
        (n.lower(), v)
        for n, v in seen["headers"]
        if n.lower() in ("content-length", "transfer-encoding")
    ]
    assert status == 200 and seen["body"] == "hello world"
    assert framing == [("content-length", "11")]


def test_expect_100_continue_is_answered_by_the_proxy_and_not_forwarded(proxy: int) -> None:
    with socket.create_connection(("127.0.0.1", proxy), timeout=10) as sock:
        sock.sendall(
            b"POST /api/expect HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
            b"Expect: 100-continue\r\nConnection: close\r\n\r\n"
        )
        interim = sock.recv(65536)
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"ok")
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
    [(status, body)] = answers(raw)
    seen = json.loads(body)
    assert status == 200 and seen["body"] == "ok"
    assert "expect" not in {name.lower() for name, _ in seen["headers"]}


@pytest.mark.parametrize(
    "head",
    [
        b"POST /api/smuggle HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        b"POST /api/smuggle HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
    ],
)
def test_transfer_encoding_other_than_one_chunked_on_1_1_is_refused_and_not_forwarded(
    proxy: int, echo: Echo, head: bytes
) -> None:
    raw = exchange(proxy, head + b"0\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 400 ")
    assert "/api/smuggle" not in echo.seen_paths()


def test_a_head_over_the_header_limit_gets_431(proxy: int) -> None:
    many = b"".join(b"X-H%d: 1\r\n" % n for n in range(150))
    raw = exchange(proxy, b"GET /api/many HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n")
    assert raw.startswith(b"HTTP/1.1 431 ")


def test_ambiguous_and_internal_paths_are_answered_by_the_proxy(proxy: int, echo: Echo) -> None:
    raw = exchange(
        proxy,
        b"GET /api/a%2Fb HTTP/1.1\r\nHost: x\r\n\r\nGET /internal/x HTTP/1.1\r\nHost: x\r\n"
        b"Connection: close\r\n\r\n",
    )
    assert [status for status, _ in answers(raw)] == [400, 404]
    assert not {"/api/a%2Fb", "/internal/x"} & set(echo.seen_paths())


def test_an_http_1_0_client_gets_its_answer_and_a_closed_connection(proxy: int) -> None:
    raw = exchange(proxy, b"GET /api/old HTTP/1.0\r\nHost: x\r\n\r\n")  # returns: proxy closed
    [(status, _)] = answers(raw)
    assert status == 200 and b"Connection: close\r\n" in raw


def test_an_unreachable_upstream_is_a_502(logs: Path) -> None:
    with raw_proxy(dead_url(), logs) as port:
        raw = exchange(port, b"GET /api/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        [(status, body)] = answers(raw)
        assert status == 502 and json.loads(body)["error"] == "bad_gateway"


def test_a_chunked_answer_is_passed_on_chunked_and_unchunked_to_http_1_0(logs: Path) -> None:
    port = free_port()
    argv = [sys.executable, "-m", "tests.bench.chunked_upstream", str(port)]
    with ServerProcess(f"chunked-{port}", argv, log_dir=logs):
        _wait_listening(port)
        with raw_proxy(f"http://127.0.0.1:{port}", logs) as proxy_port:
            raw = exchange(
                proxy_port, b"GET /api/c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            )
            head, _, body = raw.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200 ")
            assert re.search(rb"(?im)^transfer-encoding: chunked\r?$", head)
            assert not re.search(rb"(?im)^content-length:", head)
            pieces, rest = [], body
            while True:
                size_line, _, rest = rest.partition(b"\r\n")
                size = int(size_line, 16)
                if size == 0:
                    break
                pieces.append(rest[:size])
                rest = rest[size + 2 :]
            assert b"".join(pieces) == b"one-two-/api/c" and rest == b"\r\n"

            old = exchange(proxy_port, b"GET /api/old HTTP/1.0\r\nHost: x\r\n\r\n")
            head, _, body = old.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200 ") and b"Connection: close" in head
            assert not re.search(rb"(?im)^transfer-encoding:", head)
            assert body == b"one-two-/api/old"  # delimited by the close
