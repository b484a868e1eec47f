"""A strict HTTP/1.1 request parser (RFC 9112), for tests: the reference reading of raw bytes.

Anything a lenient parser could read two ways is refused (:class:`Reject`): bare LF or CR,
obs-fold, whitespace before a header colon, control characters, a request target outside
origin-form's characters, Content-Length that is not plain digits or appears twice, a
Transfer-Encoding other than exactly ``chunked`` (or with HTTP/1.0, or next to Content-Length),
malformed chunk sizes. The recording upstream (``tests/support/recording_upstream.py``) serves
with it, and the framing tests compare what a proxy forwards with what it reads.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_TOKEN = re.compile(rb"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
#: RFC 3986 characters of an origin-form target (path and query), percent-escapes included.
_TARGET = re.compile(rb"^/[A-Za-z0-9\-._~!$&'()*+,;=:@/%?]*$")
_PCT = re.compile(rb"%(?![0-9A-Fa-f]{2})")
_FIELD_VALUE = re.compile(rb"^[\t\x20-\x7e\x80-\xff]*$")
_HEX = re.compile(rb"^[0-9A-Fa-f]{1,15}$")
#: RFC 9112 §7.1.1: *( BWS ";" BWS token [ BWS "=" BWS ( token / quoted-string ) ] )
_TOKEN_CHARS = rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_QUOTED = rb'"(?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x21-\x7e\x80-\xff])*"'
_CHUNK_EXT = re.compile(
    rb"(?:[ \t]*;[ \t]*"
    + _TOKEN_CHARS
    + rb"(?:[ \t]*=[ \t]*(?:"
    + _TOKEN_CHARS
    + rb"|"
    + _QUOTED
    + rb"))?)*"
)
MAX_BODY = 1024 * 1024


class Reject(ValueError):
    """The bytes are not one unambiguous request."""


@dataclass
class ParsedRequest:
    method: str
    target: str
    version: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        found = [v for k, v in self.headers if k.lower() == name.lower()]
        return found[0] if found else None

    @property
    def keep_alive(self) -> bool:
        connection = (self.header("Connection") or "").lower()
        if self.version == "HTTP/1.0":
            return "keep-alive" in connection
        return "close" not in connection


def _line(buf: bytes, start: int) -> tuple[bytes, int] | None:
    """One CRLF-terminated line from ``start``; None when incomplete. Bare CR/LF is refused."""
    end = buf.find(b"\n", start)
    if end < 0:
        cr = buf.find(b"\r", start)
        if cr >= 0 and cr != len(buf) - 1:
            raise Reject("bare CR")
        return None
    if end == start or buf[end - 1 : end] != b"\r":
        raise Reject("bare LF")
    line = buf[start : end - 1]
    if b"\r" in line:
        raise Reject("bare CR")
    return line, end + 1


def parse_one(buf: bytes) -> tuple[ParsedRequest, int] | None:
    """The first request in ``buf`` and the bytes it used; None when more bytes are needed."""
    start = 0
    while buf.startswith(b"\r\n", start) and start < 4:  # RFC 9112 §2.2: ignore a blank line
        start += 2
    got = _line(buf, start)
    if got is None:
        return None
    request_line, pos = got
    # RFC 9112 §3 lets a recipient split the request line on runs of SP; a proxy that writes its
    # own request line cannot be desynchronised by that. Anything else (tabs, ...) is refused.
    parts = [part for part in request_line.split(b" ") if part]
    if len(parts) != 3 or request_line.startswith(b" "):
        raise Reject("request line is not METHOD SP TARGET SP VERSION")
    method, target, version = parts
    if not _TOKEN.match(method):
        raise Reject("bad method")
    if not _TARGET.match(target) or _PCT.search(target):
        raise Reject("bad request target")
    if version not in (b"HTTP/1.1", b"HTTP/1.0"):
        raise Reject("bad version")
    request = ParsedRequest(method.decode(), target.decode(), version.decode())
    while True:
        got = _line(buf, pos)
        if got is None:
            return None
        line, pos = got
        if not line:
            break
        if line[:1] in (b" ", b"\t"):
            raise Reject("obs-fold")
        name, colon, value = line.partition(b":")
        if not colon or not _TOKEN.match(name):
            raise Reject("bad header name")
        value = value.strip(b" \t")
        if not _FIELD_VALUE.match(value):
            raise Reject("control character in a header value")
        request.headers.append((name.decode(), value.decode("latin-1")))
    hosts = [v for k, v in request.headers if k.lower() == "host"]
    if request.version == "HTTP/1.1" and len(hosts) != 1:
        raise Reject("HTTP/1.1 needs exactly one Host")
    lengths = [v for k, v in request.headers if k.lower() == "content-length"]
    codings = [v for k, v in request.headers if k.lower() == "transfer-encoding"]
    if codings:
        if request.version == "HTTP/1.0":
            raise Reject("Transfer-Encoding with HTTP/1.0")
        if lengths:
            raise Reject("both Content-Length and Transfer-Encoding")
        if len(codings) != 1 or codings[0].lower() != "chunked":
            raise Reject("Transfer-Encoding other than exactly chunked")
        return _chunked(buf, pos, request)
    if len(lengths) > 1:
        raise Reject("Content-Length twice")
    if lengths:
        if not re.fullmatch(r"[0-9]{1,15}", lengths[0]):
            raise Reject("Content-Length is not plain digits")
        size = int(lengths[0])
        if size > MAX_BODY:
            raise Reject("body too large")
        if len(buf) < pos + size:
            return None
        request.body = buf[pos : pos + size]
        return request, pos + size
    return request, pos


def _chunked(buf: bytes, pos: int, request: ParsedRequest) -> tuple[ParsedRequest, int] | None:
    body = b""
    while True:
        got = _line(buf, pos)
        if got is None:
            return None
        line, pos = got
        size_text, sep, extension = line.partition(b";")
        if sep:
            size_text = size_text.rstrip(b" \t")  # BWS before the extension
            if not _CHUNK_EXT.fullmatch(b";" + extension):
                raise Reject("bad chunk extension")
        if not _HEX.match(size_text):
            raise Reject("bad chunk size")
        size = int(size_text, 16)
        if len(body) + size > MAX_BODY:
            raise Reject("body too large")
        if size == 0:
            break
        if len(buf) < pos + size + 2:
            return None
        if buf[pos + size : pos + size + 2] != b"\r\n":
            raise Reject("chunk data not followed by CRLF")
        body += buf[pos : pos + size]
        pos += size + 2
    while True:  # trailer fields, then the empty line
        got = _line(buf, pos)
        if got is None:
            return None
        line, pos = got
        if not line:
            break
        name, colon, _ = line.partition(b":")
        if not colon or not _TOKEN.match(name):
            raise Reject("bad trailer field")
    request.body = body
    return request, pos


def parse_all(buf: bytes) -> tuple[list[ParsedRequest], str | None]:
    """Every request in ``buf`` in order, and why reading stopped early (None: clean end).
    Reading stops at a refusal, at a request that closes the connection, or at an incomplete
    tail (reason ``"incomplete"``)."""
    requests: list[ParsedRequest] = []
    pos = 0
    while pos < len(buf):
        try:
            got = parse_one(buf[pos:])
        except Reject as err:
            return requests, str(err)
        if got is None:
            return requests, "incomplete"
        request, used = got
        requests.append(request)
        pos += used
        if not request.keep_alive:
            return requests, None
    return requests, None
