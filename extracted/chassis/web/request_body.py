"""Request bodies parsed the way DRF's ``Request`` + ``JSONParser`` do.

* No body bytes (``Content-Length`` missing, zero or not a number) is ``{}``, whatever the type.
* A JSON body larger than Django's ``DATA_UPLOAD_MAX_MEMORY_SIZE`` is a 400 ``bad_request``.
* Only JSON is parsed: the ``Content-Type`` must match ``application/json`` the way DRF's
  ``media_type_matches`` decides (case-insensitive, wildcards ``*/*`` and ``application/*``
  match); otherwise 415 with the media type as sent, without parameters.
* The charset parameter picks the decoding when Python knows it (Django sets
  ``request.encoding`` so), else UTF-8; ``NaN``/``Infinity`` are refused (DRF ``STRICT_JSON``).
  Anything undecodable is a 400 ``malformed_request``.

Written here rather than borrowed because the point is DRF's exact semantics, and DRF's code is
tied to Django's request object.
"""

from __future__ import annotations

import codecs
import json
from dataclasses import dataclass
from email.message import Message
from typing import Any

from fastapi import Request

from extracted.chassis.web.errors import BadRequest, MalformedRequest, UnsupportedMediaType

#: DRF's ``DefaultContentNegotiation.max_media_type_length``: longer types are refused unread.
MAX_MEDIA_TYPE_LENGTH = 256
#: Django's ``DATA_UPLOAD_MAX_MEMORY_SIZE``: a larger JSON body is a 400 ``bad_request``.
MAX_BODY_BYTES = 2_621_440
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
        if length > MAX_BODY_BYTES:
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
            return json.loads(self.raw.decode(encoding), parse_constant=_refuse_constant)
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            raise MalformedRequest() from exc


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


async def request_body(request: Request) -> RequestBody:
    """FastAPI dependency: the raw body, parsed later so endpoints choose the order of checks."""
    return RequestBody(
        raw=await request.body(),
        content_type=request.headers.get("content-type", ""),
        content_length=request.headers.get("content-length"),
    )
