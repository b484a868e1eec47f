"""What the proxy writes on the wire and what request targets it accepts, in bytes, for the
listener (``proxy/listener.py``): the request head sent upstream, the answer head sent to the
client, the proxy's own error answers, and the checks on a request target. Pure functions,
applying the header rules of ``proxy/headers.py``.
"""

from __future__ import annotations

import json
import re
from http import HTTPStatus
from urllib.parse import unquote

from proxy import headers as hdr

#: Never forwarded in either direction (hop-by-hop, RFC 9110 §7.6.1), plus the framing the
#: proxy recomputes for the buffered body it writes.
_HOP_BY_HOP = frozenset(name.encode() for name in hdr.HOP_BY_HOP) | {b"content-length"}
#: Never forwarded upstream: replaced by ours (request id, trace context), or answered by the
#: proxy itself (``Expect: 100-continue``: the body is read here).
_REPLACED_UPSTREAM = frozenset({b"x-request-id", b"traceparent", b"expect"})
#: Headers that name the client's address in some server or CDN's convention. They are never
#: forwarded as sent (an upstream could believe a client's own): the proxy sends ``X-Real-IP``
#: with the address it determined (a trusted proxy's ``X-Forwarded-For``, else the peer).
_CLIENT_ADDRESS = frozenset(
    {b"x-real-ip", *(name.lower().encode() for name in hdr.CLIENT_ADDRESS_HEADERS)}
)
#: Never passed back to the client from an answer: set by the proxy.
_REPLACED_DOWNSTREAM = frozenset({b"x-strangler-upstream", b"x-strangler-route", b"x-request-id"})
#: Bodiless methods: no ``Content-Length: 0`` is sent upstream for them without a body.
_NO_LENGTH_WHEN_EMPTY = frozenset({"GET", "HEAD", "DELETE", "OPTIONS"})

_AMBIGUOUS = re.compile(r"%(2[fF]|5[cC]|00)|\\")
_REASONS = {s.value: s.phrase.encode() for s in HTTPStatus}


class ProxyError(Exception):
    """An answer the proxy gives itself, in the contract's error shape."""

    def __init__(
        self, status: int, code: str, detail: str, close: bool = False, *, unreached: bool = False
    ) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail
        #: Close the connection after answering (the request's body framing is not trusted).
        self.close = close or status == 413
        #: The request surely never reached an upstream (it could not connect, or the circuit
        #: was open): said in ``X-Strangler-Unreached: 1``, so that an internal caller going
        #: through the façade knows nothing needs undoing there (extracted/orders/clients).
        self.unreached = unreached


def check_target(target: bytes) -> str:
    """The percent-decoded path of an origin-form target, or :class:`ProxyError` (400, and the
    connection closed: what follows on it is not trusted either) for a target that two parsers
    could read differently."""
    if not target.startswith(b"/"):
        raise ProxyError(
            400, "malformed_request", "Only origin-form request targets are served.", True
        )
    if b"#" in target:
        raise ProxyError(400, "malformed_request", "A request target has no fragment.", True)
    raw = target.split(b"?", 1)[0].decode("latin-1")
    if _AMBIGUOUS.search(raw):
        raise ProxyError(400, "malformed_request", "Ambiguous path encoding refused.", True)
    path = unquote(raw, errors="surrogateescape") if "%" in raw else raw
    # A dot segment, also as ``..;x`` (servlet containers drop ``;params`` before resolving).
    if "." in path and any(seg.split(";", 1)[0] in (".", "..") for seg in path.split("/")):
        raise ProxyError(400, "malformed_request", "Ambiguous path encoding refused.", True)
    return path


def _connection_named(headers: list[tuple[bytes, bytes]]) -> frozenset[bytes] | None:
    named: set[bytes] | None = None
    for name, value in headers:
        if len(name) == 10 and name.lower() == b"connection":
            named = named or set()
            named.update(t.strip().lower() for t in value.split(b",") if t.strip())
    return frozenset(named) if named else None


#: Pieces of the request line at the start of an :func:`upstream_head`.
_REQUEST_LINE = 4


def upstream_head(
    method: str,
    target: bytes,
    headers: list[tuple[bytes, bytes]],
    body: bytes,
    *,
    peer: bytes,
    client_addr: bytes,
    scheme: bytes,
    request_id: bytes,
    traceparent: bytes,
    trusted: bool,
    default_host: bytes,
) -> list[bytes]:
    """The request written upstream (head and body) in one pass: hop-by-hop headers and the
    ones the proxy replaces dropped, forwarding headers set from the connection (kept and
    extended only from a trusted proxy), client-address headers of other conventions dropped
    and ``X-Real-IP`` set, plus framing (Content-Length for the buffered body) and ``Host``
    when an HTTP/1.0 client sent none."""
    named = _connection_named(headers)
    out = [method.encode(), b" ", target, b" HTTP/1.1\r\n"]  # _REQUEST_LINE pieces
    host: bytes | None = None
    forwarded_for: list[bytes] = []
    forwarded_proto = forwarded_host = False
    for name, value in headers:
        lower = name.lower()
        if lower in _HOP_BY_HOP or lower in _REPLACED_UPSTREAM:
            continue
        if named is not None and lower in named:
            continue
        if lower in _CLIENT_ADDRESS:
            continue
        if lower.startswith(b"x-") and (
            lower.startswith(b"x-strangler-") or lower.startswith(b"x-forwarded-")
        ):
            if not trusted or lower.startswith(b"x-strangler-"):
                continue
            if lower == b"x-forwarded-for":
                value = value.strip()
                if value:
                    forwarded_for.append(value)
                continue
            if lower == b"x-forwarded-proto":
                forwarded_proto = True
            elif lower == b"x-forwarded-host":
                forwarded_host = True
        elif lower == b"forwarded" and not trusted:
            continue
        elif lower == b"host" and host is None:
            host = value
        out += (name, b": ", value, b"\r\n")
    if forwarded_for:
        out += (b"X-Forwarded-For: ", b", ".join(forwarded_for), b", ", peer, b"\r\n")
    else:
        out += (b"X-Forwarded-For: ", peer, b"\r\n")
    if not forwarded_proto:
        out += (b"X-Forwarded-Proto: ", scheme, b"\r\n")
    if host is None:
        out += (b"Host: ", default_host, b"\r\n")
    elif host and not forwarded_host:
        out += (b"X-Forwarded-Host: ", host, b"\r\n")
    out += (b"X-Real-IP: ", client_addr, b"\r\n")
    out += (b"X-Request-Id: ", request_id, b"\r\ntraceparent: ", traceparent, b"\r\n")
    if body:
        out += (b"Content-Length: %d\r\n\r\n" % len(body), body)
    elif method in _NO_LENGTH_WHEN_EMPTY:
        out.append(b"\r\n")
    else:
        out.append(b"Content-Length: 0\r\n\r\n")
    return out


def with_header(head: list[bytes], name: bytes, value: bytes) -> list[bytes]:
    """A copy of ``head`` (an :func:`upstream_head`) with one more header line."""
    return [*head[:_REQUEST_LINE], name, b": ", value, b"\r\n", *head[_REQUEST_LINE:]]


def answer_head(
    status: int,
    reason: bytes,
    headers: list[tuple[bytes, bytes]],
    body_length: int,
    *,
    upstream: bytes,
    route: bytes,
    request_id: bytes,
    keep_alive: bool,
    http10: bool,
) -> list[bytes]:
    """The answer's head to the client: the bytes twin of
    :func:`proxy.headers.client_response_headers`, framed for the buffered body. A HEAD or
    304 answer keeps the Content-Length the upstream announced for the body it did not send."""
    named = _connection_named(headers)
    out = [b"HTTP/1.1 %d " % status, _REASONS.get(status) or reason or b"Unknown", b"\r\n"]
    announced = b""
    for name, value in headers:
        lower = name.lower()
        if lower in _HOP_BY_HOP or lower in _REPLACED_DOWNSTREAM:
            if lower == b"content-length":
                announced = value
            continue
        if named is not None and lower in named:
            continue
        out += (name, b": ", value, b"\r\n")
    out += (
        b"X-Strangler-Upstream: ",
        upstream,
        b"\r\nX-Strangler-Route: ",
        route,
        b"\r\nX-Request-Id: ",
        request_id,
        b"\r\n",
    )
    if body_length or not announced:
        if status >= 200 and status != 204:
            out.append(b"Content-Length: %d\r\n" % body_length)
    else:
        out += (b"Content-Length: ", announced, b"\r\n")
    if not keep_alive:
        out.append(b"Connection: close\r\n\r\n")
    elif http10:
        out.append(b"Connection: keep-alive\r\n\r\n")
    else:
        out.append(b"\r\n")
    return out


def error_answer(
    err: ProxyError, *, route: bytes, request_id: bytes, keep_alive: bool, http10: bool = False
) -> bytes:
    """The proxy's own answer (the contract's error shape)."""
    body = json.dumps({"error": err.code, "detail": err.detail}).encode()
    return b"".join(
        [
            b"HTTP/1.1 %d %s\r\n" % (err.status, _REASONS.get(err.status, b"Error")),
            b"Content-Type: application/json; charset=utf-8\r\n",
            b"X-Strangler-Upstream: -\r\nX-Strangler-Route: ",
            route,
            b"\r\nX-Request-Id: ",
            request_id,
            b"\r\nContent-Length: %d\r\n" % len(body),
            b"X-Strangler-Unreached: 1\r\n" if err.unreached else b"",
            b"Connection: close\r\n"
            if not keep_alive
            else (b"Connection: keep-alive\r\n" if http10 else b""),
            b"\r\n",
            body,
        ]
    )
