"""Which Content-Types count as JSON (DRF's ``media_type_matches``) and how bodies decode."""

from __future__ import annotations

from typing import Any

import pytest

from extracted.chassis.web.errors import ApiError
from extracted.chassis.web.request_body import RequestBody, is_json_media_type


@pytest.mark.parametrize(
    ("content_type", "is_json"),
    [
        ("application/json", True),
        ("application/json; charset=utf-8", True),
        ("APPLICATION/JSON", True),
        ("*/*", True),
        ("application/*", True),
        ("*/json", True),
        ("", False),
        ("json", False),
        ("*", False),
        ("text/plain", False),
        ("application/json-patch+json", False),
        ("application/" + "j" * 300, False),
    ],
)
def test_json_media_types(content_type: str, is_json: bool) -> None:
    assert is_json_media_type(content_type) is is_json


def body(
    raw: bytes, content_type: str = "application/json", length: str | None = ""
) -> RequestBody:
    return RequestBody(raw, content_type, str(len(raw)) if length == "" else length)


@pytest.mark.parametrize(
    ("request_body", "parsed"),
    [
        (body(b'{"a": 1}'), {"a": 1}),
        (body(b"", "text/plain"), {}),
        (body(b"hello", "text/plain", length=None), {}),
        (body(b'{"a": "caf\xe9"}', "application/json; charset=latin-1"), {"a": "caf\u00e9"}),
        (body(b'{"a": 1}', "application/json; charset=nope"), {"a": 1}),
    ],
)
def test_bodies_parse_like_drf(request_body: RequestBody, parsed: Any) -> None:
    assert request_body.json() == parsed


@pytest.mark.parametrize(
    ("request_body", "status", "detail"),
    [
        (body(b"{"), 400, "Body is not valid JSON."),
        (body(b'{"a": NaN}'), 400, "Body is not valid JSON."),
        (body(b'{"a": Infinity}'), 400, "Body is not valid JSON."),
        (body(b'{"a": "\xff"}'), 400, "Body is not valid JSON."),
        (body(b"\xef\xbb\xbf{}"), 400, "Body is not valid JSON."),
        (
            body(b"hi", "Text/Plain; charset=utf-8"),
            415,
            'Unsupported media type "Text/Plain" in request.',
        ),
        (body(b"hi", ""), 415, 'Unsupported media type "" in request.'),
    ],
)
def test_refused_bodies(request_body: RequestBody, status: int, detail: str) -> None:
    with pytest.raises(ApiError) as refused:
        request_body.json()
    assert (refused.value.status_code, refused.value.detail) == (status, detail)
