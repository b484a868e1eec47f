"""proxy.compare: normalisation by compare rules and a structural diff with JSONPaths."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from proxy.compare import (
    Difference,
    Exchange,
    InvalidJSONPath,
    check_rules,
    compare_exchanges,
    compare_json,
    compile_jsonpath,
    find_paths,
    format_path,
)
from proxy.config import CompareRules
from tests.support.random_refs import random_sku

NO_RULES = CompareRules()


def product(**overrides: Any) -> dict[str, Any]:
    row = {
        "sku": random_sku(),
        "name": "Blue mug",
        "price": "12.50",
        "on_hand": 10,
        "reserved": 2,
        "available": 8,
        "version": 3,
        "created_at": "2026-11-24T23:17:01.123456Z",
        "updated_at": "2026-11-24T23:17:01.123456Z",
    }
    row.update(overrides)
    return row


def page(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {"count": len(rows), "next": None, "previous": None, "results": rows}


def exchange(body: Any, *, status: int = 200, raw: bytes | None = None) -> Exchange:
    data = raw if raw is not None else json.dumps(body).encode()
    return Exchange(status=status, headers={"Content-Type": "application/json"}, body=data)


def diff(expected: Any, actual: Any, **rules: Any) -> list[Difference]:
    return compare_exchanges(exchange(expected), exchange(actual), CompareRules(**rules))


def test_equal_answers_have_no_differences() -> None:
    body = page([product() for _ in range(3)])
    assert diff(body, copy.deepcopy(body)) == []


def test_status_is_compared() -> None:
    body = {"error": "not_found", "detail": "Not found."}
    differences = compare_exchanges(
        exchange(body, status=404), exchange(body, status=410), NO_RULES
    )
    assert differences == [Difference("status", "changed", 404, 410)]


def test_a_changed_field_is_reported_with_its_json_path() -> None:
    rows = [product() for _ in range(5)]
    other = copy.deepcopy(rows)
    other[3]["price"] = "12.51"
    assert diff(page(rows), page(other)) == [
        Difference("$.results[3].price", "changed", "12.50", "12.51")
    ]


def test_missing_and_extra_keys_and_elements() -> None:
    row = product()
    trimmed = {k: v for k, v in row.items() if k != "available"}
    assert diff(row, trimmed) == [Difference("$.available", "missing", 8, None)]
    assert diff(trimmed, row) == [Difference("$.available", "extra", None, 8)]
    one, two = product(), product()
    assert diff(page([one, two]), {**page([one]), "count": 2}) == [
        Difference("$.results[1]", "missing", two, None)
    ]
    assert diff({**page([one]), "count": 2}, page([one, two])) == [
        Difference("$.results[1]", "extra", None, two)
    ]


@pytest.mark.parametrize(
    ("expected", "actual"),
    [(True, 1), (1, 1.0), (0, False), ("1", 1), (None, 0), ([], {}), ({"a": 1}, [1])],
)
def test_json_types_are_strict(expected: Any, actual: Any) -> None:
    assert diff({"v": expected}, {"v": actual}) == [Difference("$.v", "type", expected, actual)]


def test_key_order_is_part_of_the_contract() -> None:
    row = product()
    shuffled = dict(reversed(list(row.items())))
    (difference,) = diff(row, shuffled)
    assert (difference.where, difference.kind) == ("$", "changed")
    assert difference.expected == list(row) and difference.actual == list(shuffled)


def test_odd_keys_are_quoted_in_paths() -> None:
    assert diff({"a b": {"c": 1}}, {"a b": {"c": 2}}) == [Difference('$["a b"].c', "changed", 1, 2)]


def test_non_json_bodies_are_compared_byte_for_byte() -> None:
    html = b"<h1>Server Error (500)</h1>"
    same = compare_exchanges(exchange(None, raw=html), exchange(None, raw=html), NO_RULES)
    assert same == []
    changed = compare_exchanges(
        exchange(None, raw=html), exchange(None, raw=b"<h1>Oops</h1>"), NO_RULES
    )
    assert changed == [Difference("body", "changed", html.decode(), "<h1>Oops</h1>")]
    mixed = compare_exchanges(exchange({"a": 1}), exchange(None, raw=html), NO_RULES)
    assert [(d.where, d.kind) for d in mixed] == [("body", "type")]
    empty = compare_exchanges(exchange(None, raw=b""), exchange(None, raw=b"{}"), NO_RULES)
    assert [(d.where, d.kind) for d in empty] == [("body", "type")]
    undecodable = compare_exchanges(
        exchange(None, raw=b"\xff\xfe"), exchange(None, raw=b"\xff"), NO_RULES
    )
    assert [(d.where, d.kind) for d in undecodable] == [("body", "changed")]


def test_headers_are_not_compared_yet() -> None:
    left = Exchange(200, {"Date": "Mon", "Server": "gunicorn"}, b"{}")
    right = Exchange(200, {"Date": "Tue", "Server": "uvicorn"}, b"{}")
    assert compare_exchanges(left, right, NO_RULES) == []


def test_ignore_removes_named_paths_from_both_sides() -> None:
    rows = [product() for _ in range(3)]
    other = copy.deepcopy(rows)
    for row in other:
        row["updated_at"] = "2030-01-01T00:00:00.000000Z"
    other[1]["price"] = "0.01"
    assert diff(page(rows), page(other), ignore=["$.results[*].updated_at"]) == [
        Difference("$.results[1].price", "changed", "12.50", "0.01")
    ]
    assert diff(page(rows), page(other), ignore=["$..updated_at", "$.results[1].price"]) == []
    assert diff({"a": {"b": 1, "c": 1}}, {"a": {"b": 2, "c": 2}}, ignore=["$.a.b"]) == [
        Difference("$.a.c", "changed", 1, 2)
    ]
    # A path that matches on one side only is removed there: no missing/extra left behind.
    assert diff({"id": "x", "v": 1}, {"v": 1}, ignore=["$.id"]) == []
    assert diff({"v": 1}, {"v": 2}, ignore=["$"]) == []
    # An ignored array element keeps its place: later elements are reported at their own index.
    assert diff({"l": [1, 2, 3]}, {"l": [9, 2, 4]}, ignore=["$.l[0]"]) == [
        Difference("$.l[2]", "changed", 3, 4)
    ]
    assert diff({"l": [1, 2]}, {"l": [5]}, ignore=["$.l[*]"]) == [
        Difference("$.l[1]", "missing", "<ignored>", None)
    ]


def test_unordered_arrays_are_multisets_and_report_original_indices() -> None:
    rows = [product(sku=f"SKU-{i}") for i in range(4)]
    assert diff(page(rows), page(list(reversed(rows))), unordered=["$.results"]) == []
    assert diff(page(rows), page(list(reversed(rows)))) != []

    changed = list(reversed(rows))
    changed[0] = product(sku="SKU-3", price="99.00")  # was rows[3]
    assert diff(page(rows), page(changed), unordered=["$.results"]) == [
        Difference("$.results[3]", "missing", rows[3], None),
        Difference("$.results[0]", "extra", None, changed[0]),
    ]
    # Duplicates count: [a, a, b] is not [a, b, b].
    assert diff({"l": [1, 1, 2]}, {"l": [2, 1, 2]}, unordered=["$.l"]) == [
        Difference("$.l[1]", "missing", 1, None),
        Difference("$.l[2]", "extra", None, 2),
    ]


def test_unordered_nested_arrays_and_wildcards() -> None:
    first = {"id": "r1", "lines": [{"sku": "A", "quantity": 1}, {"sku": "B", "quantity": 2}]}
    second = {"id": "r2", "lines": [{"sku": "C", "quantity": 3}]}
    flipped = {"id": "r1", "lines": list(reversed(first["lines"]))}
    rules = {"unordered": ["$.results[*].lines", "$.results"]}
    assert diff(page([first, second]), page([second, flipped]), **rules) == []
    only_lines = {"unordered": ["$.results[*].lines"]}
    assert diff(page([first, second]), page([flipped, second]), **only_lines) == []
    assert diff(page([first, second]), page([second, flipped]), **only_lines) != []


def test_ignore_and_unordered_together() -> None:
    rows = [product(sku=f"SKU-{i}") for i in range(3)]
    other = [dict(row, updated_at="later") for row in reversed(rows)]
    assert (
        diff(page(rows), page(other), ignore=["$.results[*].updated_at"], unordered=["$.results"])
        == []
    )


def test_invalid_json_paths_are_refused_clearly() -> None:
    with pytest.raises(InvalidJSONPath, match="must start with"):
        compile_jsonpath("results[*]")
    with pytest.raises(InvalidJSONPath, match="not a JSONPath"):
        compile_jsonpath("$.results[")
    rules = CompareRules(ignore=("$.ok", "nope"), unordered=("$.[[",))
    problems = check_rules(rules)
    assert len(problems) == 2
    assert problems[0].startswith("compare.ignore: 'nope'")
    assert problems[1].startswith("compare.unordered: '$.[['")
    assert check_rules(CompareRules(ignore=("$..x", "$.results[*].y"))) == []


def test_differences_serialise_as_json() -> None:
    (difference,) = diff({"v": [1]}, {"v": {"a": None}})
    assert json.loads(json.dumps(difference.as_dict())) == {
        "where": "$.v",
        "kind": "type",
        "expected": [1],
        "actual": {"a": None},
    }


def test_format_path() -> None:
    assert format_path(()) == "$"
    assert format_path(("results", 3, "price")) == "$.results[3].price"
    assert format_path(("x-y", 0)) == '$["x-y"][0]'


# --- properties ---------------------------------------------------------------------------

KEYS = st.sampled_from(["a", "b", "x", "results", "price", "id", "_k1"])
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(10**6), 10**6)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
)
JSON = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=4),
    max_leaves=25,
)
RULE_PATHS = st.sampled_from(["$.a", "$..x", "$.results[*].price", "$.results", "$..id", "$.b[0]"])


@given(JSON, st.lists(RULE_PATHS, max_size=3), st.lists(RULE_PATHS, max_size=3))
def test_property_a_document_never_differs_from_itself(
    document: Any, ignore: list[str], unordered: list[str]
) -> None:
    rules = CompareRules(ignore=tuple(ignore), unordered=tuple(unordered))
    assert compare_json(copy.deepcopy(document), copy.deepcopy(document), rules) == []
    assert compare_json(copy.deepcopy(document), copy.deepcopy(document), NO_RULES) == []
    # The same document serialised differently (whitespace) is still equal.
    spaced = Exchange(200, {}, json.dumps(document, indent=2).encode())
    compact = Exchange(200, {}, json.dumps(document, separators=(",", ":")).encode())
    assert compare_exchanges(spaced, compact, rules) == []


def _paths(document: Any, prefix: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    found: list[tuple[str | int, ...]] = []
    if isinstance(document, dict):
        for key, value in document.items():
            found.append((*prefix, key))
            found.extend(_paths(value, (*prefix, key)))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            found.append((*prefix, index))
            found.extend(_paths(value, (*prefix, index)))
    return found


def _replace(document: Any, path: tuple[str | int, ...], value: Any) -> Any:
    changed = copy.deepcopy(document)
    parent = changed
    for part in path[:-1]:
        parent = parent[part]
    parent[path[-1]] = value
    return changed


def _under(where: str, path: tuple[str | int, ...]) -> bool:
    prefix = format_path(path)
    return where == prefix or where.startswith((prefix + ".", prefix + "["))


DOCUMENTS = st.dictionaries(KEYS, JSON, min_size=1, max_size=4)


@given(DOCUMENTS, st.data())
def test_property_ignore_removes_exactly_the_paths_it_names(document: Any, data: Any) -> None:
    path = data.draw(st.sampled_from(_paths(document)))
    changed = _replace(document, path, {"__changed__": True})
    ignored = CompareRules(ignore=(format_path(path),))

    assert compare_json(copy.deepcopy(document), copy.deepcopy(changed), ignored) == []
    reported = compare_json(copy.deepcopy(document), copy.deepcopy(changed), NO_RULES)
    assert reported, "the change must be visible without the ignore rule"
    assert all(_under(d.where, path) for d in reported)

    # A change outside the ignored path is still reported (ignore hides nothing else).
    outside = [
        p
        for p in _paths(changed)
        if not _under(format_path(p), path) and not _under(format_path(path), p)
    ]
    if outside:
        other = data.draw(st.sampled_from(outside))
        twice = _replace(changed, other, {"__also__": True})
        left = compare_json(copy.deepcopy(document), copy.deepcopy(twice), ignored)
        assert left and all(_under(d.where, other) for d in left)


@given(st.lists(JSON, max_size=6), st.randoms(use_true_random=False))
def test_property_unordered_is_order_insensitive(items: list[Any], rng: Any) -> None:
    shuffled = list(items)
    rng.shuffle(shuffled)
    rules = CompareRules(unordered=("$.results",))
    assert compare_json({"results": copy.deepcopy(items)}, {"results": shuffled}, rules) == []


@given(st.lists(JSON, min_size=1, max_size=6), st.data())
def test_property_unordered_still_sees_a_changed_element(items: list[Any], data: Any) -> None:
    index = data.draw(st.integers(0, len(items) - 1))
    changed = list(items)
    changed[index] = {"__changed__": index}
    rules = CompareRules(unordered=("$.results",))
    differences = compare_json({"results": copy.deepcopy(items)}, {"results": changed}, rules)
    assert [d.kind for d in differences] == ["missing", "extra"]


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
    """jsonpath-ng's full_path, read independently of proxy.compare's own walk."""
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
