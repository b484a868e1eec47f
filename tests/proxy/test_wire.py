"""The listener's byte-level pieces (``proxy/wire.py``) against a reference written
here in ``str`` from the rules (RFC 9110 §7.6.1 and the façade's own): same hygiene on any
header set, same checks on request targets."""

from __future__ import annotations

import json

import httptools
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict

from proxy.headers import HOP_BY_HOP, HeaderView
from proxy.wire import (
    ProxyError,
    answer_head,
    check_target,
    error_answer,
    upstream_head,
    with_header,
)

#: Names that exercise every rule: hop-by-hop, framing, proxy-owned, replaced, ordinary.
NAMES = [
    "Host",
    "Accept",
    "Connection",
    "Keep-Alive",
    "TE",
    "Trailer",
    "Upgrade",
    "Transfer-Encoding",
    "Content-Length",
    "Content-Type",
    "X-Forwarded-For",
    "X-Forwarded-Proto",
    "X-Forwarded-Host",
    "Forwarded",
    "X-Strangler-Dry-Run",
    "X-Strangler-Route",
    "X-Request-Id",
    "traceparent",
    "Expect",
    "X-Custom",
    "x-custom",
    "Cookie",
    "X-Real-IP",
    "True-Client-IP",
    "CF-Connecting-IP",
    "x-client-ip",
]
#: Client-address headers of other conventions: never forwarded as sent (X-Real-IP is ours).
CLIENT_ADDRESS = {"x-real-ip", "true-client-ip", "cf-connecting-ip", "x-client-ip"}
VALUES = st.sampled_from(
    ["a", "b, c", "X-Custom", "keep-alive, X-Custom", "10.0.0.1", "1.2.3.4, 10.0.0.2", ""]
)
HEADERS = st.lists(st.tuples(st.sampled_from(NAMES), VALUES), max_size=12)


def _parsed(pieces: list[bytes]) -> tuple[list[tuple[str, str]], bytes, str]:
    """(headers, body, target) of a request head as an HTTP parser reads it."""
    seen: dict[str, object] = {"headers": [], "body": b""}

    class Sink:
        def on_url(self, url: bytes) -> None:
            seen["url"] = url.decode()

        def on_header(self, name: bytes, value: bytes) -> None:
            seen["headers"].append((name.decode("latin-1"), value.decode("latin-1")))  # type: ignore[attr-defined]

        def on_body(self, body: bytes) -> None:
            seen["body"] += body  # type: ignore[operator]

    httptools.HttpRequestParser(Sink()).feed_data(b"".join(pieces))
    return seen["headers"], seen["body"], seen["url"]  # type: ignore[return-value]


def _dropped(headers: CIMultiDict[str]) -> set[str]:
    """Never forwarded: hop-by-hop, the framing recomputed, and what Connection names."""
    drop = set(HOP_BY_HOP) | {"content-length"}
    for value in headers.getall("Connection", ()):
        drop.update(token.strip().lower() for token in value.split(",") if token.strip())
    return drop


def _reference_upstream(
    headers: CIMultiDict[str], *, client_addr: str, trusted: bool
) -> CIMultiDict[str]:
    """What goes upstream: the client's headers cleaned, the forwarding headers ours (extended
    when the peer is a trusted proxy), request id ``rid`` and trace context ``tp``."""
    drop = _dropped(headers)
    out: CIMultiDict[str] = CIMultiDict()
    for name, value in headers.items():
        lower = name.lower()
        if lower in drop or lower in ("x-request-id", "traceparent", "expect"):
            continue
        if lower in CLIENT_ADDRESS:
            continue
        owned = lower.startswith(("x-strangler-", "x-forwarded-")) or lower == "forwarded"
        if owned and not (trusted and not lower.startswith("x-strangler-")):
            continue
        if lower != "x-forwarded-for":
            out.add(name, value)
    if trusted:
        chain = [v.strip() for v in headers.getall("X-Forwarded-For", ()) if v.strip()]
        out["X-Forwarded-For"] = ", ".join([*chain, client_addr])
        out.setdefault("X-Forwarded-Proto", "http")
    else:
        out["X-Forwarded-For"] = client_addr
        out["X-Forwarded-Proto"] = "http"
    host = headers.get("Host")
    if host and "X-Forwarded-Host" not in out:
        out["X-Forwarded-Host"] = host
    out["X-Real-IP"] = client_addr
    out["X-Request-Id"] = "rid"
    out["traceparent"] = "tp"
    return out


def _reference_answer(headers: CIMultiDict[str], *, upstream: str, route: str) -> CIMultiDict[str]:
    """What goes back to the client: the answer's headers cleaned, labelled by the proxy."""
    drop = _dropped(headers)
    out: CIMultiDict[str] = CIMultiDict(
        (name, value) for name, value in headers.items() if name.lower() not in drop
    )
    out["X-Strangler-Upstream"] = upstream
    out["X-Strangler-Route"] = route
    out["X-Request-Id"] = "rid"
    return out


def _multiset(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return sorted((n.lower(), v) for n, v in headers)


@settings(max_examples=300, deadline=None)
@given(HEADERS, st.booleans(), st.sampled_from(["GET", "POST", "DELETE"]), st.binary(max_size=8))
def test_the_bytes_hygiene_upstream_equals_the_reference(
    headers: list[tuple[str, str]], trusted: bool, method: str, body: bytes
) -> None:
    raw = [(n.encode(), v.encode()) for n, v in headers]
    pieces = upstream_head(
        method,
        b"/api/x?y=1",
        raw,
        body,
        peer=b"127.0.0.1",
        client_addr=b"127.0.0.1",
        scheme=b"http",
        request_id=b"rid",
        traceparent=b"tp",
        trusted=trusted,
        default_host=b"up:1",
    )
    got, got_body, target = _parsed(pieces)
    want = _reference_upstream(CIMultiDict(headers), client_addr="127.0.0.1", trusted=trusted)
    framing = [(n, v) for n, v in got if n.lower() in ("content-length",)]
    added_host = [("Host", "up:1")] if "host" not in {n.lower() for n, _ in headers} else []
    assert [(n, v) for n, v in got if (n, v) == ("Host", "up:1")] == added_host
    rest = [(n, v) for n, v in got if (n, v) not in framing and (n, v) not in added_host]
    assert _multiset(rest) == _multiset(list(want.items()))
    assert target == "/api/x?y=1" and got_body == body
    # the same view the router reads
    assert HeaderView(raw).get("x-custom") == CIMultiDict(headers).get("X-Custom")


@settings(max_examples=300, deadline=None)
@given(HEADERS, st.booleans())
def test_the_bytes_hygiene_downstream_equals_the_reference(
    headers: list[tuple[str, str]], keep_alive: bool
) -> None:
    raw = [(n.encode(), v.encode()) for n, v in headers]
    pieces = answer_head(
        200,
        b"OK",
        raw,
        2,
        upstream=b"inventory",
        route=b"r1",
        request_id=b"rid",
        keep_alive=keep_alive,
        http10=False,
    )
    head = b"".join(pieces).decode("latin-1")
    assert head.startswith("HTTP/1.1 200 OK\r\n") and head.endswith("\r\n\r\n")
    lines = [line.partition(": ") for line in head.split("\r\n")[1:-2]]
    got = [(n, v) for n, _, v in lines if n not in ("Content-Length", "Connection")]
    want = _reference_answer(CIMultiDict(headers), upstream="inventory", route="r1")
    assert _multiset(got) == _multiset(list(want.items()))
    assert ("Content-Length", ": ", "2") in lines
    assert (("Connection", ": ", "close") in lines) is (not keep_alive)


def test_a_head_answer_keeps_the_announced_length_and_204_has_none() -> None:
    def head(status: int, headers: list[tuple[bytes, bytes]]) -> bytes:
        return b"".join(
            answer_head(
                status,
                b"",
                headers,
                0,
                upstream=b"u",
                route=b"r",
                request_id=b"i",
                keep_alive=True,
                http10=True,
            )
        )

    assert b"Content-Length: 42\r\n" in head(200, [(b"Content-Length", b"42")])
    assert b"Connection: keep-alive\r\n" in head(200, [])
    assert b"Content-Length" not in head(204, [])
    assert head(299, []).startswith(b"HTTP/1.1 299 Unknown\r\n")


@pytest.mark.parametrize(
    ("target", "path"),
    [
        (b"/api/x/", "/api/x/"),
        (b"/api/caf%C3%A9/?q=%2F", "/api/café/"),
        (b"/api/a.b/..x/", "/api/a.b/..x/"),
    ],
)
def test_a_plain_target_decodes_to_its_path(target: bytes, path: str) -> None:
    assert check_target(target) == path


@pytest.mark.parametrize(
    "target",
    [
        b"*",
        b"http://x/api/",
        b"/api/%2F/",
        b"/api/%5c/",
        b"/api/%00/",
        b"/api\\x/",
        b"/api/../x",
        b"/api/%2e%2e/x",
        b"/api/..;x/y",
        b"/api/./x",
        b"/api/x#frag",
    ],
)
def test_an_ambiguous_target_is_refused_with_400(target: bytes) -> None:
    with pytest.raises(ProxyError) as refused:
        check_target(target)
    assert refused.value.status == 400


def test_an_error_answer_is_the_contract_shape_and_says_close() -> None:
    answer = error_answer(
        ProxyError(413, "payload_too_large", "Too big."),
        route=b"r",
        request_id=b"i",
        keep_alive=False,
    )
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413 Request Entity Too Large\r\n")
    assert b"\r\nConnection: close" in head and b"\r\nX-Strangler-Route: r" in head
    assert json.loads(body) == {"error": "payload_too_large", "detail": "Too big."}
    assert f"Content-Length: {len(body)}".encode() in head


def test_a_header_added_to_an_upstream_head_is_read_as_one_more_header() -> None:
    head = upstream_head(
        "POST",
        b"/api/x",
        [(b"Host", b"shop")],
        b"{}",
        peer=b"127.0.0.1",
        client_addr=b"127.0.0.1",
        scheme=b"http",
        request_id=b"rid",
        traceparent=b"tp",
        trusted=False,
        default_host=b"up:1",
    )
    headers, body, target = _parsed(with_header(head, b"X-Strangler-Dry-Run", b"1"))
    assert ("X-Strangler-Dry-Run", "1") in headers
    assert _multiset([h for h in headers if h[0] != "X-Strangler-Dry-Run"]) == _multiset(
        _parsed(head)[0]
    )
    assert (body, target) == (b"{}", "/api/x")
