"""The monolith's one JSON parser: DRF's ``JSONParser`` semantics within the limits every owner
applies (``contracts.json_limits``).

* A body past ``MAX_BODY_BYTES`` is Django's ``RequestDataTooBig``: its 400 ``bad_request``, as for
  any oversized body (DRF reads the stream itself, so Django's own check never sees a JSON body).
* A body that breaks a limit is a ``ParseError`` carrying the limit (the exception handler writes
  the 400 ``malformed_request`` with that detail); anything else that is not JSON is DRF's own
  ``ParseError`` (``Body is not valid JSON.``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO, Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from contracts.json_limits import MAX_BODY_BYTES, JsonLimitExceeded, loads


class BodyLimitExceeded(ParseError):
    """A JSON body over one of the limits; ``detail`` names it."""


class BoundedJSONParser(JSONParser):
    def parse(
        self,
        stream: IO[Any] | None,
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        if stream is None:
            return None
        raw = stream.read(MAX_BODY_BYTES + 1)
        if len(raw) > MAX_BODY_BYTES:
            raise RequestDataTooBig("Request body exceeded settings.DATA_UPLOAD_MAX_MEMORY_SIZE.")
        encoding = (parser_context or {}).get("encoding") or settings.DEFAULT_CHARSET
        try:
            # Text codecs only (``bz2_codec`` would inflate a small body without bound), as
            # DRF's own parser does: ``str.encode`` refuses the others.
            "".encode(encoding)
        except (LookupError, UnicodeError):
            raise ParseError(f'Unsupported charset "{encoding}".') from None
        try:
            return loads(raw.decode(encoding))
        except JsonLimitExceeded as exc:
            raise BodyLimitExceeded(exc.detail) from None
        except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
            raise ParseError(f"JSON parse error - {exc}") from None
