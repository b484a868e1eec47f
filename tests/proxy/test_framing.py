"""Framing the listener (``proxy/listener.py``) owns, over raw sockets against real
upstreams: heads split across TCP segments, a header over the limit dribbled byte by byte, a
HEAD answer followed by a pipelined GET on one upstream connection, chunked answers with
extensions and trailers, ``Expect: 100-continue``, and a slow reader of a large answer."""

from __future__ import annotations

import json
import socket
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from proxy.listener import LINGER_S
from tests.proxy.harness import Echo, RunningProxy, route, routes_yaml, running_proxy, upstream
from tests.support.ports import free_port
from tests.support.processes import ServerProcess
from tests.support.random_refs import random_suffix
from tests.support.waiting import wait_for

MAX_HEADER_BYTES = 256


@pytest.fixture(scope="module")
def raw_upstream_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    logs = tmp_path_factory.mktemp("raw-upstream")
    port = free_port()
    argv = [sys.executable, "-m", "tests.proxy.raw_upstream", str(port)]
    with ServerProcess(f"raw-upstream-{port}", argv, log_dir=logs):

        def accepts() -> bool:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True

        wait_for(accepts, message="the raw upstream")
        yield f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def proxy(
    tmp_path_factory: pytest.TempPathFactory, monolith: Echo, raw_upstream_url: str
) -> Iterator[RunningProxy]:
    text = routes_yaml(
        {"monolith": upstream(monolith.url), "rawup": upstream(raw_upstream_url)},
        [
            route("api", match={"path_prefix": "/api/"}, mode="monolith"),
            route("raw", match={"path_prefix": "/raw/"}, mode="extracted", target="rawup"),
        ],
    )
    var = tmp_path_factory.mktemp("raw-framing")
    with running_proxy(var, text, PROXY_MAX_HEADER_BYTES=str(MAX_HEADER_BYTES)) as running:
        yield running


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


class Client:
    """One raw connection to the proxy."""

    def __init__(self, proxy: RunningProxy, *, rcvbuf: int | None = None) -> None:
        host, _, port = proxy.url.removeprefix("http://").partition(":")
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.settimeout(10)
        self.sock.connect((host, int(port)))
        self.buf = b""

    def send(self, *pieces: bytes, gap_s: float = 0.0) -> None:
        for piece in pieces:
            self.sock.sendall(piece)
            if gap_s:
                time.sleep(gap_s)  # separate TCP segments: the input's shape, not a wait

    def _fill(self) -> bool:
        chunk = self.sock.recv(1 << 16)
        self.buf += chunk
        return bool(chunk)

    def head(self) -> tuple[int, dict[str, str]]:
        while b"\r\n\r\n" not in self.buf:
            if not self._fill():
                raise ConnectionError(f"closed before a head: {self.buf!r}")
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        return int(lines[0].split(" ")[1]), headers

    def answer(self, *, bodiless: bool = False) -> Answer:
        status, headers = self.head()
        size = 0 if bodiless else int(headers.get("content-length", "0"))
        while len(self.buf) < size:
            if not self._fill():
                break
        body, self.buf = self.buf[:size], self.buf[size:]
        return Answer(status, headers, body)

    def closed(self) -> bool:
        try:
            return not self._fill()
        except ConnectionResetError:
            return True

    def close(self) -> None:
        self.sock.close()


def _echoed(answer: Answer) -> dict[str, object]:
    assert answer.status == 200, answer
    return dict(json.loads(answer.body))


def test_a_head_split_across_segments_is_read_whole(proxy: RunningProxy) -> None:
    tag = random_suffix()
    client = Client(proxy)
    client.send(
        f"GET /api/split-{tag}/ HT".encode(),
        b"TP/1.1\r\nHo",
        b"st: x\r\nX-A",
        b": 1\r\nX-B: ",
        b"2\r\n",
        b"\r",
        b"\n",
        gap_s=0.02,
    )
    echoed = _echoed(client.answer())
    client.close()
    headers = {name: value for name, value in echoed["headers"]}  # type: ignore[attr-defined]
    assert echoed["raw_path"] == f"/api/split-{tag}/"
    assert (headers["X-A"], headers["X-B"], headers["Host"]) == ("1", "2", "x")


def test_a_header_over_the_limit_sent_byte_by_byte_is_431(
    proxy: RunningProxy, monolith: Echo
) -> None:
    tag = random_suffix()
    client = Client(proxy)
    client.send(f"GET /api/dribble-{tag}/ HTTP/1.1\r\nHost: x\r\nX-Big: ".encode())
    for _ in range(2 * MAX_HEADER_BYTES):
        client.send(b"a", gap_s=0.001)
    # The answer comes while the client is still sending (the proxy half-closes and keeps
    # reading a bounded while, so the client is not reset before it reads it) ...
    answer = client.answer()
    assert answer.status == 431 and answer.headers["connection"] == "close"
    # ... and a client that keeps sending is cut off once that bound is spent.
    deadline = time.monotonic() + LINGER_S + 10
    with pytest.raises(OSError):
        while time.monotonic() < deadline:
            client.send(b"a" * 1024, gap_s=0.01)
    client.close()
    assert not [p for p in monolith.seen_paths() if tag in p]


def test_a_head_answer_then_a_pipelined_get_share_one_upstream_connection(
    proxy: RunningProxy,
) -> None:
    tag = random_suffix()
    client = Client(proxy)
    client.send(
        f"HEAD /raw/h-{tag} HTTP/1.1\r\nHost: x\r\n\r\n"
        f"GET /raw/g-{tag} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    )
    head = client.answer(bodiless=True)
    get = client.answer()
    client.close()
    assert head.status == 200 and head.headers["content-length"] == "5"
    assert get.status == 200 and get.body == f"/raw/g-{tag}".encode()
    assert head.headers["x-conn"] == get.headers["x-conn"]


def test_a_chunked_answer_with_extensions_and_trailers_arrives_whole(
    proxy: RunningProxy,
) -> None:
    tag = random_suffix()
    client = Client(proxy)
    client.send(f"GET /raw/chunked/{tag} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    answer = client.answer()
    client.close()
    assert answer.status == 200
    assert answer.body == f"one-two-/raw/chunked/{tag}".encode()
    assert "transfer-encoding" not in answer.headers and "trailer" not in answer.headers


def test_expect_100_continue_is_answered_by_the_proxy_and_not_forwarded(
    proxy: RunningProxy,
) -> None:
    tag = random_suffix()
    client = Client(proxy)
    client.send(
        f"POST /api/expect-{tag}/ HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
        "Content-Length: 3\r\n\r\n".encode()
    )
    interim, _ = client.head()  # nothing goes upstream until the body came
    client.send(b"abc")
    echoed = _echoed(client.answer())
    client.close()
    assert interim == 100
    assert echoed["body"] == "abc"
    assert "expect" not in {name.lower() for name, _ in echoed["headers"]}  # type: ignore[attr-defined]


def test_a_slow_reader_of_a_large_answer_gets_it_whole_and_holds_nobody_up(
    proxy: RunningProxy,
) -> None:
    tag = random_suffix()
    size = 8_000_000
    slow = Client(proxy, rcvbuf=4096)
    slow.send(
        f"GET /raw/big/{size} HTTP/1.1\r\nHost: x\r\n\r\n"
        f"GET /raw/after-{tag} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    )
    # While the slow client reads nothing, others are served.
    for _ in range(5):
        resp = httpx.get(f"{proxy.url}/raw/other-{tag}", timeout=5)
        assert resp.status_code == 200 and resp.content == f"/raw/other-{tag}".encode()
    big = slow.answer()
    after = slow.answer()
    slow.close()
    assert big.status == 200 and len(big.body) == size
    assert big.body == (b"0123456789" * (size // 10 + 1))[:size]
    assert after.body == f"/raw/after-{tag}".encode()


def test_a_closed_client_connection_is_seen_as_closed(proxy: RunningProxy) -> None:
    """An HTTP/1.0 request without keep-alive: answered, then the connection closes."""
    client = Client(proxy)
    client.send(b"GET /raw/one HTTP/1.0\r\n\r\n")
    answer = client.answer()
    assert answer.status == 200 and answer.body == b"/raw/one"
    assert client.closed()
    client.close()
