"""Path and request-framing vectors, over raw sockets, against a real proxy in front of a real
recording upstream (``tests/support/recording_upstream.py``, a strict raw-socket parser).

For every vector: the proxy either refuses it (a 4xx, or the connection closed with nothing
forwarded), or the upstream receives exactly one request whose method, target and body equal
what the strict parser (``tests/support/strict_http.py``) reads from the same bytes - and the
route the proxy chose is the route that target decodes to. After each vector that leaves the
connection open, a probe request is sent on it: anything the proxy forwards besides the vector's
own request and the probe is a smuggled second request, and fails the test.
"""

from __future__ import annotations

import json
import socket
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from multidict import CIMultiDict

from proxy.config import RouteTable, parse_route_table
from proxy.routing import Router
from tests.proxy.harness import RunningProxy, route, routes_yaml, running_proxy, upstream
from tests.support.ports import free_port
from tests.support.processes import ServerProcess
from tests.support.random_refs import random_suffix
from tests.support.strict_http import ParsedRequest, parse_all
from tests.support.waiting import wait_for

# --------------------------------------------------------------------------------------------
# The world: one recording upstream behind every route, a proxy, and the same table for the test


@dataclass
class Recording:
    url: str
    log: Path

    def records(self, tag: str) -> list[dict[str, Any]]:
        """Requests (and refusals) the upstream logged that carry ``tag`` anywhere."""
        if not self.log.exists():
            return []
        lines = self.log.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if tag in line]


@dataclass
class World:
    proxy: RunningProxy
    upstream: Recording
    router: Router


def vector_routes(url: str) -> str:
    return routes_yaml(
        {"monolith": upstream(url), "svc": upstream(url, retry={"attempts": 0})},
        [
            route("ra", match={"path_prefix": "/a/"}, mode="extracted", target="svc"),
            route("rb", match={"path_prefix": "/b/"}, mode="monolith"),
            route("rexact", match={"path": "/a/exact"}, mode="extracted", target="svc"),
            route("rpat", match={"path_pattern": "/p/{id}/x/"}, mode="extracted", target="svc"),
            route("rprobe", match={"path_prefix": "/probe/"}, mode="monolith"),
        ],
    )


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    var = tmp_path_factory.mktemp("vectors")
    port = free_port()
    log = var / "recorded.jsonl"
    argv = [sys.executable, "-m", "tests.support.recording_upstream", "--port", str(port)]
    with ServerProcess(f"recorder-{port}", [*argv, "--log", str(log)], log_dir=var / "logs"):
        url = f"http://127.0.0.1:{port}"

        def listening() -> bool:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True

        wait_for(listening, message="the recording upstream")
        text = vector_routes(url)
        table: RouteTable = parse_route_table(text)
        with running_proxy(var, text, PROXY_HEADER_TIMEOUT_S="3") as proxy:
            yield World(proxy, Recording(url, log), Router(table))


# --------------------------------------------------------------------------------------------
# Raw exchanges


@dataclass
class Answer:
    status: int
    headers: CIMultiDict[str]
    body: bytes


def _read_answers(sock: socket.socket, buf: bytes, *, limit: int) -> tuple[list[Answer], bytes]:
    """Up to ``limit`` responses from ``sock`` (stops at EOF or a quiet timeout)."""
    answers: list[Answer] = []
    while len(answers) < limit:
        while b"\r\n\r\n" not in buf:
            try:
                chunk = sock.recv(65536)
            except OSError:
                return answers, buf
            if not chunk:
                return answers, buf
            buf += chunk
        head, _, buf = buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers: CIMultiDict[str] = CIMultiDict()
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers.add(name.strip(), value.strip())
        size = int(headers.get("Content-Length", "0"))
        while len(buf) < size:
            try:
                chunk = sock.recv(65536)
            except OSError:
                break
            if not chunk:
                break
            buf += chunk
        answers.append(Answer(int(lines[0].split(" ")[1]), headers, buf[:size]))
        buf = buf[size:]
        if headers.get("Connection", "").lower() == "close":
            break
    return answers, buf


def probe(tag: str) -> bytes:
    return f"GET /probe/{tag}/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()


def exchange(base_url: str, raw: bytes, tag: str) -> tuple[list[Answer], bool]:
    """Send ``raw``; read the first answer; if the connection stays open, send the probe and
    read to the end. Returns the answers and whether the probe was sent."""
    host, _, port = base_url.removeprefix("http://").partition(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(raw)
        sock.settimeout(2)
        answers, buf = _read_answers(sock, b"", limit=1)
        closed = (
            not answers
            or answers[-1].headers.get("Connection", "").lower() == "close"
            or b" HTTP/1.0\r\n" in raw.split(b"\n", 1)[0] + b"\n"  # 1.0: closes by default
        )
        if closed:
            return answers, False
        try:
            sock.sendall(probe(tag))
        except OSError:
            return answers, False
        sock.settimeout(5)
        more, _ = _read_answers(sock, buf, limit=10)
        return answers + more, True


def expected_route(router: Router, method: str, target: str, headers: CIMultiDict[str]) -> str:
    """The route of the path an upstream acts on: the target's path, percent-decoded."""
    path = unquote(target.split("?", 1)[0], errors="surrogateescape")
    found = router.match(method, path, headers)
    return found.name if found is not None else "-"


def check(world: World, raw: bytes, tag: str) -> None:
    """The property every vector must have (see the module docstring)."""
    answers, probed = exchange(world.proxy.url, raw, tag)
    strict, _ = parse_all(raw)
    assert len(strict) <= 1, "a vector must hold at most one request a strict parser reads"
    records = world.upstream.records(tag)
    assert not [r for r in records if "rejected" in r], f"the upstream refused bytes: {records}"
    forwarded = [r for r in records if not r["target"].startswith(f"/probe/{tag}/")]
    probes = [r for r in records if r["target"].startswith(f"/probe/{tag}/")]
    assert len(forwarded) <= 1, f"a second request reached the upstream: {forwarded}"
    if not forwarded:
        first = answers[0].status if answers else None
        assert first is None or 400 <= first < 500, f"not forwarded, yet answered {first}"
    else:
        (got,) = forwarded
        assert strict, f"forwarded what a strict parser refuses: {got}"
        want: ParsedRequest = strict[0]
        assert (got["method"], got["target"], got["body"]) == (
            want.method,
            want.target,
            want.body.decode("latin-1"),
        )
        assert answers and answers[0].status == 200
        want_route = expected_route(
            world.router, want.method, want.target, CIMultiDict(want.headers)
        )
        assert answers[0].headers["X-Strangler-Route"] == want_route, "routed by another path"
    served = [a.headers.get("X-Strangler-Route") for a in answers].count("rprobe")
    assert len(probes) == served <= 1, f"the probe was not served at most once: {records}"
    if probed and forwarded:
        assert served == 1, "the connection was kept open, but the next request was not served"


# --------------------------------------------------------------------------------------------
# Path vectors: (id, request target). {t} is replaced by the test's tag.

PATH_TARGETS: dict[str, str] = {
    # plain references
    "plain-a": "/a/{t}/",
    "plain-b": "/b/{t}/",
    "exact": "/a/exact?{t}",
    "pattern": "/p/{t}/x/",
    # encoded slashes and backslashes
    "enc-slash": "/a/{t}%2F..%2F..%2Fb/",
    "enc-slash-lower": "/a%2f{t}/",
    "enc-slash-prefix": "/b%2F..%2Fa/{t}/",
    "enc-backslash": "/a/{t}%5C..%5Cb/",
    "enc-backslash-lower": "/a/{t}%5c/",
    "raw-backslash": "/a/{t}\\..\\b/",
    "pattern-enc-slash": "/p/1%2F{t}/x/",
    # NUL and controls
    "enc-nul": "/a/{t}%00/",
    "enc-nul-ext": "/b/{t}.json%00.html",
    "enc-cr-lf": "/a/{t}%0D%0AX-Injected:%201/",
    "enc-tab": "/a/{t}%09/",
    # dot segments
    "dotdot-escape": "/a/../b/{t}/",
    "dotdot-deep": "/a/{t}/../../b/",
    "dot": "/a/./{t}/",
    "dotdot-within": "/a/x/../{t}/",
    "enc-dotdot": "/a/%2e%2e/b/{t}/",
    "enc-dotdot-upper": "/a/%2E%2E/b/{t}/",
    "enc-dotdot-mixed": "/a/.%2e/b/{t}/",
    "enc-dotdot-mixed2": "/a/%2e./b/{t}/",
    "enc-dot": "/a/%2e/{t}/",
    "dotdot-enc-slash": "/a/..%2fb/{t}/",
    "four-dots": "/a/..../{t}/",
    "trailing-dotdot": "/a/{t}/..",
    "pattern-dotdot": "/p/../x/{t}",
    "pattern-enc-dotdot": "/p/%2e%2e/x/?{t}",
    # ..; and ;params
    "dotdot-semicolon": "/a/..;/b/{t}/",
    "dotdot-semicolon-param": "/a/..;x=1/b/{t}/",
    "semicolon-segment": "/a;/../b/{t}/",
    "params-prefix": "/a;x=1/{t}/",
    "params-segment": "/a/{t};jsessionid=1/",
    "params-empty": "/a/;/{t}/",
    "params-b-a": "/b;/a/{t}/",
    "dot-semicolon": "/a/.;/{t}/",
    # double encoding
    "double-dotdot": "/a/%252e%252e/b/{t}/",
    "double-slash-enc": "/a/{t}%252F..%252Fb/",
    "double-prefix": "/%2561/{t}/",
    "double-nul": "/a/{t}%2500/",
    # overlong and odd UTF-8
    "overlong-dot": "/a/%c0%ae%c0%ae/b/{t}/",
    "overlong-slash": "/a/{t}%c0%af../b/",
    "overlong-3byte-dot": "/a/%e0%80%ae%e0%80%ae/{t}/",
    "invalid-utf8": "/a/{t}%ff%fe/",
    "fullwidth-dots": "/a/%EF%BC%8E%EF%BC%8E/b/{t}/",
    "two-dot-leader": "/a/%E2%80%A5/b/{t}/",
    "fullwidth-a": "/%EF%BD%81/{t}/",
    "dotless-i": "/b/{t}%C4%B1/",
    "combining-dot": "/a/.%CC%87/{t}/",
    "raw-utf8": "/a/{t}/é/",
    # mixed-case percent-encoding of the prefix
    "enc-prefix-upper": "/%41/{t}/",
    "enc-prefix-lower": "/%61/{t}/",
    "enc-prefix-b": "/%62/{t}/",
    "enc-exact": "/a/exac%74?{t}",
    # double slashes
    "leading-double-slash": "//a/{t}/",
    "inner-double-slash": "/a//{t}/",
    "double-slash-b": "//b/{t}/",
    "dotdot-double-slash": "/a/..//b/{t}/",
    # ? and # tricks
    "query-slash-a": "/b/?/a/{t}/",
    "fragment": "/b/#/a/{t}/",
    "enc-question": "/b/%3F/a/{t}/",
    "enc-hash": "/b/%23/a/{t}/",
    "query-dotdot": "/a?x=/../b/{t}/",
    "query-enc-slash": "/b/?x=%2F{t}",
    # request-target forms and characters
    "absolute-form": "http://x/a/{t}/",
    "no-leading-slash": "a/{t}/",
    "space": "/a/ {t}/",
    "upper-prefix": "/A/{t}/",
    "trailing-dot-prefix": "/a./{t}/",
    "internal": "/internal/{t}/",
    "enc-internal": "/%69nternal/{t}/",
    "internal-dotdot": "/a/../internal/{t}/",
}


def path_vector(target: str) -> Callable[[str], bytes]:
    def build(tag: str) -> bytes:
        return f"GET {target.format(t=tag)} HTTP/1.1\r\nHost: x\r\n\r\n".encode()

    return build


# --------------------------------------------------------------------------------------------
# Framing vectors, from small factories. Each builds the raw bytes for a tag.

BODY = "abc"


def post(
    head_lines: list[str], body: str = BODY, *, version: str = "HTTP/1.1"
) -> Callable[[str], bytes]:
    def build(tag: str) -> bytes:
        head = "\r\n".join([f"POST /a/{tag}/ {version}", "Host: x", *head_lines])
        return (head + "\r\n\r\n" + body.replace("{t}", tag)).encode()

    return build


def raw(template: str) -> Callable[[str], bytes]:
    """Bytes written out in full ({t} = tag); for line-ending and request-line tricks."""

    def build(tag: str) -> bytes:
        return template.replace("{t}", tag).encode()

    return build


CHUNKED_BODY = "3\r\nabc\r\n0\r\n\r\n"
SMUGGLED = "GET /b/smuggled-{t}/ HTTP/1.1\r\nHost: x\r\n\r\n"

FRAMING: dict[str, Callable[[str], bytes]] = {}

# Content-Length values
for label, value in {
    "plain": "3",
    "leading-zero": "03",
    "plus": "+3",
    "minus": "-3",
    "space-before": " 3",
    "space-after": "3 ",
    "tab-after": "3\t",
    "hex": "0x3",
    "decimal": "3.0",
    "list-equal": "3,3",
    "list-differ": "3, 4",
    "empty": "",
    "exponent": "3e0",
    "arabic-digit": "\u0663",
    "overflow": "99999999999999999999",
    "overflow-wrap": "18446744073709551619",
    "short": "2",
    "zero": "0",
    "inner-space": "1 3",
    "letters": "three",
}.items():
    FRAMING[f"cl-{label}"] = post([f"Content-Length: {value}"])
FRAMING["cl-twice-equal"] = post(["Content-Length: 3", "Content-Length: 3"])
FRAMING["cl-twice-differ"] = post(["Content-Length: 3", "Content-Length: 0"], BODY + SMUGGLED)
FRAMING["cl-name-space"] = post(["Content-Length : 3"])
FRAMING["cl-name-tab"] = post(["Content-Length\t: 3"])
FRAMING["cl-obs-fold"] = post(["Content-Length: 3", " 0"])
FRAMING["cl-underscore"] = post(["Content_Length: 3"])
FRAMING["cl-named-by-connection"] = post(["Connection: Content-Length", "Content-Length: 3"])
FRAMING["cl-body-is-a-request"] = post(
    [f"Content-Length: {len(SMUGGLED.format(t='x' * 8))}"], SMUGGLED
)

# Transfer-Encoding values, alone and next to a Content-Length
for label, value in {
    "chunked": "chunked",
    "upper": "CHUNKED",
    "mixed-case": "Chunked",
    "lead-space": " chunked",
    "trail-space": "chunked ",
    "tab": "\tchunked",
    "comma-identity": "chunked, identity",
    "identity-comma": "identity, chunked",
    "xchunked": "xchunked",
    "chunkedx": "chunkedx",
    "param": "chunked;q=1",
    "identity": "identity",
    "gzip-chunked": "gzip, chunked",
    "twice-in-list": "chunked, chunked",
    "inner-space": "chun ked",
    "truncated": "chunk",
    "empty": "",
    "quoted": '"chunked"',
    "vertical-tab": "chunked\x0b",
    "nul": "chunked\x00",
}.items():
    FRAMING[f"te-{label}"] = post([f"Transfer-Encoding: {value}"], CHUNKED_BODY)
    FRAMING[f"te-{label}+cl"] = post(
        ["Content-Length: 4", f"Transfer-Encoding: {value}"], CHUNKED_BODY + SMUGGLED
    )
FRAMING["te-cl-first"] = post(["Transfer-Encoding: chunked", "Content-Length: 3"], CHUNKED_BODY)
FRAMING["te-two-headers"] = post(
    ["Transfer-Encoding: chunked", "Transfer-Encoding: identity"], CHUNKED_BODY
)
FRAMING["te-name-space"] = post(["Transfer-Encoding : chunked"], CHUNKED_BODY)
FRAMING["te-name-underscore"] = post(["Transfer_Encoding: chunked", "Content-Length: 3"])
FRAMING["te-obs-fold"] = post(["Transfer-Encoding: identity", " chunked"], CHUNKED_BODY)
FRAMING["te-folded-under-other"] = post(["X-Pad: a", " Transfer-Encoding: chunked"], CHUNKED_BODY)
FRAMING["te-named-by-connection"] = post(
    ["Connection: Transfer-Encoding", "Transfer-Encoding: chunked"], CHUNKED_BODY
)
FRAMING["te-http10"] = post(["Transfer-Encoding: chunked"], CHUNKED_BODY, version="HTTP/1.0")
FRAMING["cl-http10"] = post(["Content-Length: 3"], version="HTTP/1.0")

# Classic desync shapes
FRAMING["cl-te-classic"] = post(
    ["Content-Length: 6", "Transfer-Encoding: chunked"], "0\r\n\r\nG" + SMUGGLED
)
FRAMING["te-cl-classic"] = post(
    ["Content-Length: 4", "Transfer-Encoding: chunked"],
    "5c\r\nGPOST /b/smuggled-{t}/ HTTP/1.1\r\nHost: x\r\nContent-Length: 15\r\n\r\n"
    "x=1\r\n0\r\n\r\n",
)
FRAMING["te-te-obfuscated"] = post(
    ["Transfer-Encoding: chunked", "Transfer-encoding: x"], "0\r\n\r\n" + SMUGGLED
)

# Chunk sizes and chunk framing
for label, size in {
    "leading-zero": "03",
    "upper-hex": "A",
    "hex-prefix": "0x3",
    "plus": "+3",
    "minus": "-3",
    "space-before": " 3",
    "space-after": "3 ",
    "tab-after": "3\t",
    "ext": "3;name=value",
    "ext-quoted": '3;name="v"',
    "ext-bare": "3;",
    "ext-bws": "3 ;a",
    "ext-two": "3;a=b;c",
    "overflow": "ffffffffffffffffff",
    "wrap-to-3": "10000000000000003",
    "not-hex": "g",
    "empty": "",
    "underscore": "0_3",
}.items():
    data = "abcdefghij" if label == "upper-hex" else "abc"
    FRAMING[f"chunk-{label}"] = post(
        ["Transfer-Encoding: chunked"], f"{size}\r\n{data}\r\n0\r\n\r\n"
    )
FRAMING["chunk-data-no-crlf"] = post(["Transfer-Encoding: chunked"], "3\r\nabcX\r\n0\r\n\r\n")
FRAMING["chunk-data-too-long"] = post(["Transfer-Encoding: chunked"], "3\r\nabcdef\r\n0\r\n\r\n")
FRAMING["chunk-bare-lf-size"] = post(["Transfer-Encoding: chunked"], "3\nabc\r\n0\r\n\r\n")
FRAMING["chunk-bare-lf-data"] = post(["Transfer-Encoding: chunked"], "3\r\nabc\n0\r\n\r\n")
FRAMING["chunk-last-bare-lf"] = post(["Transfer-Encoding: chunked"], "3\r\nabc\r\n0\n\n")
FRAMING["chunk-two"] = post(["Transfer-Encoding: chunked"], "1\r\na\r\n2\r\nbc\r\n0\r\n\r\n")
FRAMING["trailer"] = post(["Transfer-Encoding: chunked"], "3\r\nabc\r\n0\r\nX-Trailer: 1\r\n\r\n")
FRAMING["trailer-content-length"] = post(
    ["Transfer-Encoding: chunked"], "3\r\nabc\r\n0\r\nContent-Length: 50\r\n\r\n"
)
FRAMING["trailer-obs-fold"] = post(
    ["Transfer-Encoding: chunked"], "3\r\nabc\r\n0\r\nX-T: 1\r\n folded\r\n\r\n"
)
FRAMING["trailer-bad-name"] = post(
    ["Transfer-Encoding: chunked"], "3\r\nabc\r\n0\r\nX T: 1\r\n\r\n"
)

# Line endings, request lines and header syntax
FRAMING["bare-lf-everywhere"] = raw("POST /a/{t}/ HTTP/1.1\nHost: x\nContent-Length: 3\n\nabc")
FRAMING["bare-lf-one-header"] = raw(
    "POST /a/{t}/ HTTP/1.1\r\nHost: x\nContent-Length: 3\r\n\r\nabc"
)
FRAMING["bare-cr-header"] = raw("POST /a/{t}/ HTTP/1.1\r\nHost: x\rContent-Length: 3\r\n\r\nabc")
FRAMING["bare-lf-request-line"] = raw("GET /a/{t}/ HTTP/1.1\nHost: x\r\n\r\n")
FRAMING["lf-lf-end"] = raw("GET /a/{t}/ HTTP/1.1\r\nHost: x\r\n\n")
FRAMING["http09"] = raw("GET /a/{t}/\r\n\r\n")
FRAMING["http20-version"] = raw("GET /a/{t}/ HTTP/2.0\r\nHost: x\r\n\r\n")
FRAMING["version-lowercase"] = raw("GET /a/{t}/ http/1.1\r\nHost: x\r\n\r\n")
FRAMING["version-trailing-space"] = raw("GET /a/{t}/ HTTP/1.1 \r\nHost: x\r\n\r\n")
FRAMING["double-space-request-line"] = raw("GET  /a/{t}/ HTTP/1.1\r\nHost: x\r\n\r\n")
FRAMING["tab-request-line"] = raw("GET\t/a/{t}/ HTTP/1.1\r\nHost: x\r\n\r\n")
FRAMING["lowercase-method"] = raw("get /a/{t}/ HTTP/1.1\r\nHost: x\r\n\r\n")
FRAMING["unknown-method"] = raw("FOO /a/{t}/ HTTP/1.1\r\nHost: x\r\n\r\n")
FRAMING["leading-crlf"] = raw("\r\nGET /a/{t}/ HTTP/1.1\r\nHost: x\r\n\r\n")
FRAMING["no-host"] = raw("GET /a/{t}/ HTTP/1.1\r\n\r\n")
FRAMING["two-hosts"] = raw("GET /a/{t}/ HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n")
FRAMING["header-nul"] = raw("GET /a/{t}/ HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n")
FRAMING["header-no-colon"] = raw("GET /a/{t}/ HTTP/1.1\r\nHost: x\r\nX-A b\r\n\r\n")
FRAMING["header-empty-name"] = raw("GET /a/{t}/ HTTP/1.1\r\nHost: x\r\n: b\r\n\r\n")
FRAMING["header-space-in-name"] = raw("GET /a/{t}/ HTTP/1.1\r\nHost: x\r\nX A: b\r\n\r\n")
FRAMING["obs-fold-plain"] = raw("GET /a/{t}/ HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n")
FRAMING["expect-continue"] = post(["Expect: 100-continue", "Content-Length: 3"])
FRAMING["upgrade-h2c"] = post(
    [
        "Connection: Upgrade, HTTP2-Settings",
        "Upgrade: h2c",
        "HTTP2-Settings: AAMAAABkAAQAAP__",
        "Content-Length: 3",
    ]
)
FRAMING["get-with-body"] = raw("GET /a/{t}/ HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
FRAMING["head-with-body"] = raw("HEAD /a/{t}/ HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
FRAMING["get-chunked"] = raw(
    "GET /a/{t}/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + CHUNKED_BODY
)


def _vectors() -> list[Any]:
    return [pytest.param(path_vector(t), id=f"path-{name}") for name, t in PATH_TARGETS.items()]


@pytest.mark.parametrize("build", _vectors())
def test_path_vector(world: World, build: Callable[[str], bytes]) -> None:
    tag = f"v{random_suffix()}"
    check(world, build(tag), tag)


@pytest.mark.parametrize("build", [pytest.param(b, id=n) for n, b in FRAMING.items()])
def test_framing_vector(world: World, build: Callable[[str], bytes]) -> None:
    tag = f"v{random_suffix()}"
    check(world, build(tag), tag)


def test_there_are_enough_vectors() -> None:
    assert len(PATH_TARGETS) >= 60 and len(FRAMING) >= 100


@pytest.mark.parametrize(
    ("data", "reading"),
    [
        (b"GET /a/ HTTP/1.1\r\nHost: x\r\n\r\n", ("GET", "/a/", b"")),
        (b"POST /a/ HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc", ("POST", "/a/", b"abc")),
        (
            b"POST /a/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            b'1;x="y"\r\na\r\n0\r\n\r\n',
            ("POST", "/a/", b"a"),
        ),
        (
            b"POST /a/ HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n",
            None,
        ),
        (b"POST /a/ HTTP/1.1\r\nHost: x\r\nContent-Length: +3\r\n\r\nabc", None),
        (b"GET /a/ HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n", None),
        (b"GET /a/ HTTP/1.1\nHost: x\r\n\r\n", None),
        (b"GET /a/#x HTTP/1.1\r\nHost: x\r\n\r\n", None),
    ],
    ids=[
        "get",
        "content-length",
        "chunked-ext",
        "cl-and-te",
        "cl-sign",
        "obs-fold",
        "bare-lf",
        "fragment",
    ],
)
def test_the_reference_parser_itself(data: bytes, reading: tuple[str, str, bytes] | None) -> None:
    requests, stopped = parse_all(data)
    if reading is None:
        assert requests == [] and stopped not in (None, "incomplete")
    else:
        ((got),) = requests
        assert (got.method, got.target, got.body) == reading and stopped is None
