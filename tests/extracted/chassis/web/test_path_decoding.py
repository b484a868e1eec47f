"""Paths decode as Django decodes them: invalid UTF-8 stays percent-encoded."""

from __future__ import annotations

import pytest

from extracted.chassis.web.path_decoding import django_path


@pytest.mark.parametrize(
    ("raw", "path"),
    [
        (b"/p/plain/", "/p/plain/"),
        (b"/p/caf%C3%A9/", "/p/caf\u00e9/"),
        (b"/p/%FF/", "/p/%FF/"),
        (b"/p/caf%C3%A9%FFx/", "/p/caf\u00e9%FFx/"),
        (b"/p/a%2Fb/", "/p/a/b/"),
        (b"/p/%20/", "/p/ /"),
    ],
)
def test_django_path(raw: bytes, path: str) -> None:
    assert django_path(raw) == path
