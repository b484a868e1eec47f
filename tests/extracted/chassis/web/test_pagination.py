"""Page links re-encode the query like DRF's ``replace_query_param``/``remove_query_param``."""

from __future__ import annotations

import pytest

from extracted.chassis.web.pagination import remove_query_param, replace_query_param

BASE = "http://h:1/p/"


@pytest.mark.parametrize(
    ("query", "replaced", "removed"),
    [
        ("", "page=3", ""),
        ("page=2", "page=3", ""),
        ("b=2&a=1&a=0&page=2", "a=1&a=0&b=2&page=3", "a=1&a=0&b=2"),
        ("x&page=2", "page=3&x=", "x="),
        ("q=%20sp+ace&e=%C3%A9", "e=%C3%A9&page=3&q=+sp+ace", "e=%C3%A9&q=+sp+ace"),
        ("page=2&page=1", "page=3", ""),
        ("z=%2F%3F%26%3D", "page=3&z=%2F%3F%26%3D", "z=%2F%3F%26%3D"),
    ],
)
def test_links_are_reencoded_like_drf(query: str, replaced: str, removed: str) -> None:
    url = f"{BASE}?{query}" if query else BASE
    assert replace_query_param(url, "page", 3) == f"{BASE}?{replaced}"
    assert remove_query_param(url, "page") == (f"{BASE}?{removed}" if removed else BASE)
