"""Header hygiene as pure functions (the same rules are checked end to end in test_forwarding)."""

from __future__ import annotations

import re

from multidict import CIMultiDict

from proxy.headers import request_id, sanitised_for_storage, traceparent
from proxy.wire import answer_head, upstream_head

TRACE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_request_id_kept_when_sane_else_generated() -> None:
    assert request_id(CIMultiDict({"X-Request-Id": "abc-123"})) == "abc-123"
    for bad in ("", "x" * 200, "has space", "new\nline"):
        generated = request_id(CIMultiDict({"X-Request-Id": bad}))
        assert re.fullmatch(r"[0-9a-f]{32}", generated)


def test_traceparent_continues_a_valid_trace_or_starts_one() -> None:
    continued = traceparent(CIMultiDict({"traceparent": TRACE}))
    version, trace_id, span, flags = continued.split("-")
    assert (version, trace_id, flags) == ("00", TRACE.split("-")[1], "01")
    assert span != TRACE.split("-")[2] and re.fullmatch(r"[0-9a-f]{16}", span)
    for bad in ("garbage", "00-" + "0" * 32 + "-00f067aa0ba902b7-01", TRACE.upper()):
        started = traceparent(CIMultiDict({"traceparent": bad}))
        assert re.fullmatch(r"00-[0-9a-f]{32}-[0-9a-f]{16}-01", started)
        assert started.split("-")[1] != TRACE.split("-")[1]


def _head_lines(pieces: list[bytes]) -> CIMultiDict[str]:
    """The header lines of a head (request or answer), as written."""
    head = b"".join(pieces).split(b"\r\n\r\n", 1)[0].decode("latin-1")
    lines = (line.partition(": ") for line in head.split("\r\n")[1:])
    return CIMultiDict((name, value) for name, _, value in lines)


def _raw(headers: list[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    return [(n.encode(), v.encode()) for n, v in headers]


def test_request_headers_cleaned() -> None:
    incoming = _raw(
        [
            ("Host", "shop.example:8080"),
            ("Connection", "keep-alive, X-Secret"),
            ("X-Secret", "hop"),
            ("Keep-Alive", "timeout=5"),
            ("Proxy-Authorization", "Basic x"),
            ("TE", "trailers"),
            ("Upgrade", "h2c"),
            ("X-Strangler-Dry-Run", "1"),
            ("X-Forwarded-For", "6.6.6.6"),
            ("Forwarded", "for=6.6.6.6"),
            ("Accept", "application/json"),
            ("Accept", "text/plain"),
        ]
    )
    out = _head_lines(
        upstream_head(
            "GET",
            b"/api/x/",
            incoming,
            b"",
            peer=b"10.1.1.1",
            client_addr=b"10.1.1.1",
            scheme=b"http",
            request_id=b"rid",
            traceparent=TRACE.encode(),
            trusted=False,
            default_host=b"up:1",
        )
    )
    names = {k.lower() for k in out}
    assert names.isdisjoint(
        {"connection", "x-secret", "keep-alive", "proxy-authorization", "te", "upgrade"}
    )
    assert "x-strangler-dry-run" not in names and "forwarded" not in names
    assert out["Host"] == "shop.example:8080"
    assert out.getall("X-Forwarded-For") == ["10.1.1.1"]
    assert out["X-Forwarded-Host"] == "shop.example:8080"
    assert out.getall("Accept") == ["application/json", "text/plain"]
    assert (out["X-Request-Id"], out["traceparent"]) == ("rid", TRACE)


def test_response_headers_cleaned_and_labelled() -> None:
    upstream = _raw(
        [
            ("Content-Type", "application/json"),
            ("Connection", "X-Hop"),
            ("X-Hop", "1"),
            ("Transfer-Encoding", "chunked"),
            ("Set-Cookie", "a=1"),
            ("Set-Cookie", "b=2"),
        ]
    )
    out = _head_lines(
        answer_head(
            200,
            b"OK",
            upstream,
            0,
            upstream=b"inventory",
            route=b"r",
            request_id=b"rid",
            keep_alive=True,
            http10=False,
        )
    )
    assert "X-Hop" not in out and "Transfer-Encoding" not in out and "Connection" not in out
    assert out.getall("Set-Cookie") == ["a=1", "b=2"]
    assert (out["X-Strangler-Upstream"], out["X-Strangler-Route"]) == ("inventory", "r")


def test_stored_headers_hide_credentials() -> None:
    stored = sanitised_for_storage(
        CIMultiDict({"Authorization": "Bearer secret", "Cookie": "s=secret", "Accept": "*/*"})
    )
    assert "secret" not in str(stored)
    assert stored["Accept"] == "*/*"
