"""Request bodies parsed the way DRF's ``Request`` + ``JSONParser`` do.

* No body bytes (``Content-Length`` missing, zero or not a number) is ``{}``, whatever the type.
* A body larger than ``contracts.json_limits.MAX_BODY_BYTES`` (Django's
  ``DATA_UPLOAD_MAX_MEMORY_SIZE``) is a 400 ``bad_request``, refused before more than that is read.
* The other limits of every owner (depth, keys, items, string length, numbers:
  ``contracts.json_limits``) are a 400 ``malformed_request`` whose detail names the limit.
* Only JSON is parsed: the ``Content-Type`` must match ``application/json`` the way DRF's
  ``media_type_matches`` decides (case-insensitive, wildcards ``*/*`` and ``application/*``
  match); otherwise 415 with the media type as sent, without parameters.
* The charset parameter picks the decoding when Python knows it (Django sets
  ``request.encoding`` so), else UTF-8; ``NaN``/``Infinity`` are refused (DRF ``STRICT_JSON``).
  Anything undecodable, and a charset that is not a text encoding (``bz2_codec``: DRF's
  ``get_encoding``), is a 400 ``malformed_request``.

Written here rather than borrowed because the point is DRF's exact semantics, and DRF's code is
tied to Django's request object.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from email.message import Message
from typing import Any

from fastapi import Request

from contracts.json_limits import MAX_BODY_BYTES, JsonLimitExceeded, loads
from extracted.chassis.web.errors import BadRequest, MalformedRequest, UnsupportedMediaType

#: DRF's ``DefaultContentNegotiation.max_media_type_length``: longer types are refused unread.
MAX_MEDIA_TYPE_LENGTH = 256
DEFAULT_CHARSET = "utf-8"


def parse_media_type(line: str) -> tuple[str, dict[str, str]]:
    """Django's ``parse_header_parameters``: lower-cased full type and the parameters."""
    if not line:
        return "", {}
    if ";" not in line:
        return line.strip().lower(), {}
    message = Message()
    message["content-type"] = line
    params = message.get_params() or [("", "")]
    key = params.pop(0)[0].lower()
    result: dict[str, str] = {}
    for name, value in params:
        if not name:
            continue
        if isinstance(value, tuple):  # RFC 2231 value
            value = value[2]
        result[name] = str(value)
    return key, result


def is_json_media_type(content_type: str) -> bool:
    """``media_type_matches("application/json", content_type)`` as DRF computes it."""
    if len(content_type) > MAX_MEDIA_TYPE_LENGTH:
        return False
    try:
        full_type, _params = parse_media_type(content_type)
    except ValueError:
        return False
    main_type, _sep, sub_type = full_type.partition("/")
    if sub_type != "*" and sub_type != "json":
        return False
    return main_type in ("*", "application")


def without_parameters(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip()


@dataclass(frozen=True)
class RequestBody:
    raw: bytes
    content_type: str
    content_length: str | None
    #: More than ``MAX_BODY_BYTES`` came (or were announced); ``raw`` holds none of it.
    oversized: bool = False

    def json(self) -> Any:
        """The parsed body, or the contract's 400/415."""
        try:
            length = int(self.content_length or 0)
        except ValueError:
            length = 0
        if length == 0:
            return {}
        if not is_json_media_type(self.content_type):
            raise UnsupportedMediaType(without_parameters(self.content_type))
        if length > MAX_BODY_BYTES or self.oversized:
            raise BadRequest()
        encoding = DEFAULT_CHARSET
        try:
            charset = parse_media_type(self.content_type)[1].get("charset")
        except ValueError:
            charset = None
        if charset:
            try:
                codecs.lookup(charset)
                encoding = charset
            except LookupError:
                pass
        try:
            return loads(self.raw.decode(encoding))
        except JsonLimitExceeded as exc:
            raise MalformedRequest(exc.detail) from None
        # JSONDecodeError and UnicodeDecodeError are ValueErrors; LookupError: not a text codec.
        except (ValueError, LookupError) as exc:
            raise MalformedRequest() from exc


async def _bounded_body(request: Request) -> bytes | None:
    """The body, or ``None`` as soon as it is over ``MAX_BODY_BYTES`` (by its ``Content-Length``,
    or while it streams in): a huge body is never held in memory. The refusal waits for
    ``RequestBody.json``, so the endpoint's own checks (404 first, 415) keep their order."""
    try:
        declared = int(request.headers.get("content-length") or 0)
    except ValueError:
        declared = 0
    if declared > MAX_BODY_BYTES:
        return None
    received = bytearray()
    async for chunk in request.stream():
        received += chunk
        if len(received) > MAX_BODY_BYTES:
            return None
    return bytes(received)


async def request_body(request: Request) -> RequestBody:
    """FastAPI dependency: the raw body, parsed later so endpoints choose the order of checks."""
    raw = await _bounded_body(request)
    return RequestBody(
        raw=raw or b"",
        content_type=request.headers.get("content-type", ""),
        content_length=request.headers.get("content-length"),
        oversized=raw is None,
    )
