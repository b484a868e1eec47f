"""proxy.jsonpath: JSONPath expressions parsed once and located in JSON documents."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from proxy.jsonpath import InvalidJSONPath, compile_jsonpath, find_paths, format_path
from tests.proxy.test_compare import JSON


def test_invalid_json_paths_are_refused_clearly() -> None:
    with pytest.raises(InvalidJSONPath, match="must start with"):
        compile_jsonpath("results[*]")
    with pytest.raises(InvalidJSONPath, match="not a JSONPath"):
        compile_jsonpath("$.results[")


def test_format_path() -> None:
    assert format_path(()) == "$"
    assert format_path(("results", 3, "price")) == "$.results[3].price"
    assert format_path(("x-y", 0)) == '$["x-y"][0]'


@given(
    JSON,
    st.sampled_from(
        [
            "$.a",
            "$..x",
            "$.results[*].price",
            "$.b[0]",
            "$.a[-1]",
            "$[*]",
            "$.a[0:2]",
            "$..results[*]",
            "$.a.*",
            "$..[1]",
            "$..*",
        ]
    ),
)
def test_property_find_paths_agrees_with_jsonpath_ng(document: Any, expression: str) -> None:
    reference = [
        _concrete(document, _as_path(match.full_path))
        for match in compile_jsonpath(expression).find(document)
    ]
    assert sorted(map(repr, find_paths(document, expression))) == sorted(map(repr, reference))


def _concrete(document: Any, path: tuple[str | int, ...]) -> tuple[str | int, ...]:
    """jsonpath-ng keeps a negative index as written (``[-1]``); the walk names the element."""
    out: list[str | int] = []
    value = document
    for part in path:
        if isinstance(part, int) and part < 0 and isinstance(value, list):
            part += len(value)
        out.append(part)
        value = value[part]
    return tuple(out)


def _as_path(node: Any) -> tuple[str | int, ...]:
    """jsonpath-ng's full_path, read independently of proxy.jsonpath's own walk."""
    text = str(node)
    if text == "$":
        return ()
    parts: list[str | int] = []
    for raw in re.findall(r"\[-?\d+\]|'(?:[^']*)'|[^.]+", text):
        if raw.startswith("["):
            parts.append(int(raw[1:-1]))
        else:
            parts.append(raw.strip("'"))
    return tuple(parts)
