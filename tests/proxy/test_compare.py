"""proxy.compare: normalisation by compare rules and a structural diff with JSONPaths."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from pydantic import ValidationError

from proxy.compare import Difference, Exchange, compare_exchanges, compare_json
from proxy.config import CompareRules, check_rules
from proxy.jsonpath import format_path
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


def test_only_allow_listed_headers_are_compared() -> None:
    left = Exchange(
        200,
        {"Date": "Mon", "Server": "gunicorn", "Content-Type": "application/json; charset=utf-8"},
        b"{}",
    )
    right = Exchange(
        200,
        {"date": "Tue", "server": "uvicorn", "content-type": "Application/JSON;charset=UTF-8"},
        b"{}",
    )
    assert compare_exchanges(left, right, NO_RULES) == []
    moved = Exchange(201, {"Location": "/api/items/1/"}, b"{}")
    elsewhere = Exchange(201, {"location": "/api/items/2/"}, b"{}")
    assert compare_exchanges(moved, elsewhere, NO_RULES) == [
        Difference("header:location", "changed", "/api/items/1/", "/api/items/2/")
    ]
    text = Exchange(200, {"Content-Type": "text/html"}, b"{}")
    assert compare_exchanges(left, text, NO_RULES) == [
        Difference("header:content-type", "changed", "application/json; charset=utf-8", "text/html")
    ]
    assert compare_exchanges(moved, left, NO_RULES) == [
        Difference("status", "changed", 201, 200),
        Difference("header:content-type", "extra", None, "application/json; charset=utf-8"),
        Difference("header:location", "missing", "/api/items/1/", None),
    ]
    # A route's own list replaces the default: here Server is compared, Content-Type is not.
    assert compare_exchanges(left, right, CompareRules(headers=("Server",))) == [
        Difference("header:server", "changed", "gunicorn", "uvicorn")
    ]
    assert compare_exchanges(left, right, CompareRules(headers=())) == []


def test_bad_header_names_are_refused() -> None:
    with pytest.raises(ValidationError, match="not header names: 'content type'"):
        CompareRules(headers=("content type",))


def test_numeric_tolerance_absolute_and_relative() -> None:
    rules = CompareRules(tolerance={"$.total": 0.005, "$.results[*].price": "1%"})
    assert diff({"total": 10.0}, {"total": 10.005}, **rules.model_dump()) == []
    assert diff({"total": 10.0}, {"total": 10.0051}, **rules.model_dump()) == [
        Difference("$.total", "changed", 10.0, 10.0051)
    ]
    # An int and a float under a tolerance are numbers alike, not a type difference.
    assert diff({"total": 10}, {"total": 10.004}, **rules.model_dump()) == []
    # Decimal strings (prices) compare as decimals; 1% of 12.50 is 0.125.
    rows = [product(price="12.50"), product(price="200.00")]
    near = copy.deepcopy(rows)
    near[0]["price"], near[1]["price"] = "12.625", "198.00"
    assert diff(page(rows), page(near), **rules.model_dump()) == []
    near[1]["price"] = "197.99"
    assert diff(page(rows), page(near), **rules.model_dump()) == [
        Difference("$.results[1].price", "changed", "200.00", "197.99")
    ]
    # A string on one side and a number on the other stays a type difference.
    assert diff({"total": "10.0"}, {"total": 10.0}, **rules.model_dump()) == [
        Difference("$.total", "type", "10.0", 10.0)
    ]
    # Other paths are exact.
    assert diff({"other": 1.0}, {"other": 1.001}, **rules.model_dump()) == [
        Difference("$.other", "changed", 1.0, 1.001)
    ]


@pytest.mark.parametrize("bad", [-0.1, "-1%", "1 %", "abc", "0.5", float("inf")])
def test_bad_tolerances_are_refused(bad: Any) -> None:
    with pytest.raises(ValidationError, match=r"tolerance of '\$\.total'"):
        CompareRules(tolerance={"$.total": bad})


def test_timestamp_precision_truncates_in_utc() -> None:
    created = "2026-11-24T23:17:01.123456Z"
    same_ms_in_paris = "2026-11-25T00:17:01.123999+01:00"
    body = {"created_at": created, "note": "2026-11-24T23:17:01Z"}
    other = {"created_at": same_ms_in_paris, "note": "2026-11-24T23:17:01Z"}
    assert diff(body, other, timestamp_precision="ms") == []
    assert diff(body, other, timestamp_precision="s") == []
    assert diff(body, other) == [Difference("$.created_at", "changed", created, same_ms_in_paris)]
    next_ms = {**body, "created_at": "2026-11-24T23:17:01.124Z"}
    assert diff(body, next_ms, timestamp_precision="ms") == [
        Difference(
            "$.created_at", "changed", "2026-11-24T23:17:01.123Z", "2026-11-24T23:17:01.124Z"
        )
    ]
    assert diff(body, next_ms, timestamp_precision="s") == []
    # Per path: only the named fields are relaxed.
    rules = {"timestamp_precision": {"$.created_at": "s"}}
    assert diff(body, next_ms, **rules) == []
    later_note = {**body, "note": "2026-11-24T23:17:01.5Z"}
    assert [d.where for d in diff(body, later_note, **rules)] == ["$.note"]
    # Strings that are not RFC 3339 date-times (no offset, a date alone) are left alone.
    for text in ("2026-11-24T23:17:01.1", "2026-11-24", "2026-13-01T00:00:00Z"):
        assert [d.where for d in diff({"v": text}, {"v": text + " "}, timestamp_precision="s")] == [
            "$.v"
        ]


def test_timestamp_precision_inside_unordered_arrays() -> None:
    events = [{"at": "2026-11-24T23:17:01.100Z"}, {"at": "2026-11-24T23:17:02.200Z"}]
    shuffled = [{"at": "2026-11-25T00:17:02.2+01:00"}, {"at": "2026-11-24T23:17:01.1009Z"}]
    rules = {"timestamp_precision": "ms", "unordered": ("$.events",)}
    assert diff({"events": events}, {"events": shuffled}, **rules) == []


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


def test_rules_with_invalid_json_paths_are_refused_clearly() -> None:
    # Unvalidated rules, to see every problem check_rules finds.
    rules = CompareRules.model_construct(
        ignore=("$.ok", "nope"),
        unordered=("$.[[",),
        tolerance={"total": 0.1},
        timestamp_precision={"$.at": "s", "at": "ms"},
    )
    problems = check_rules(rules)
    assert len(problems) == 4
    assert problems[0].startswith("compare.ignore: 'nope'")
    assert problems[1].startswith("compare.unordered: '$.[['")
    assert problems[2].startswith("compare.tolerance: 'total'")
    assert problems[3].startswith("compare.timestamp_precision: 'at'")
    assert check_rules(CompareRules(ignore=("$..x", "$.results[*].y"))) == []
    # Building rules (as a route file or scenario does) refuses them with the same words.
    with pytest.raises(ValidationError, match=r"compare\.tolerance: 'total' must start with"):
        CompareRules(tolerance={"total": 0.1})


def test_differences_serialise_as_json() -> None:
    (difference,) = diff({"v": [1]}, {"v": {"a": None}})
    assert json.loads(json.dumps(difference.as_dict())) == {
        "where": "$.v",
        "kind": "type",
        "expected": [1],
        "actual": {"a": None},
    }


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


# --- properties of tolerance, timestamp precision and the header allow-list ---------------

CENTS = st.integers(-(10**7), 10**7)


def _decimal_text(cents: int) -> str:
    return str(Decimal(cents).scaleb(-2))


DELTAS = st.integers(-300, 300) | st.integers(-(10**7), 10**7)


@example(a=1000, delta=5, half_cents=10)  # exactly on the limit: accepted
@example(a=1000, delta=-6, half_cents=10)  # just past it: reported
@given(CENTS, DELTAS, st.integers(0, 400))
def test_property_absolute_tolerance_is_exact_on_decimal_strings(
    a: int, delta: int, half_cents: int
) -> None:
    b = a + delta
    allowed = Decimal(half_cents).scaleb(-3) * 5  # a multiple of 0.005
    rules = CompareRules(tolerance={"$.price": float(allowed)})
    left, right = {"price": _decimal_text(a)}, {"price": _decimal_text(b)}
    within = abs(Decimal(delta).scaleb(-2)) <= allowed
    assert (compare_json(dict(left), dict(right), rules) == []) is within
    # Absolute tolerance is symmetric.
    assert (compare_json(dict(right), dict(left), rules) == []) is within


@example(a=10000, delta=100, tenths_of_percent=10)  # 1% of 100.00 is 1.00: accepted
@example(a=10000, delta=-101, tenths_of_percent=10)
@given(CENTS, DELTAS, st.integers(0, 500))
def test_property_relative_tolerance_is_a_share_of_the_expected_value(
    a: int, delta: int, tenths_of_percent: int
) -> None:
    rules = CompareRules(tolerance={"$.total": f"{Decimal(tenths_of_percent).scaleb(-1)}%"})
    expected, actual = Decimal(a).scaleb(-2), Decimal(a + delta).scaleb(-2)
    limit = Decimal(tenths_of_percent).scaleb(-3) * abs(expected)
    differences = compare_json({"total": float(expected)}, {"total": float(actual)}, rules)
    assert (differences == []) is (abs(expected - actual) <= limit)


@given(JSON, st.floats(0, 10, allow_nan=False), st.sampled_from(["ms", "s"]))
def test_property_relaxations_never_create_differences(
    document: Any, allowed: float, precision: str
) -> None:
    rules = CompareRules(
        tolerance={"$..x": allowed, "$.a": "5%"},
        timestamp_precision=precision,  # type: ignore[arg-type]
    )
    assert compare_json(copy.deepcopy(document), copy.deepcopy(document), rules) == []


MOMENTS = st.datetimes(
    min_value=datetime(1970, 1, 2), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
).map(lambda moment: moment.replace(microsecond=0))
OFFSETS = st.integers(-(23 * 60 + 59), 23 * 60 + 59)
FRACTIONS = st.text(alphabet="0123456789", max_size=9)


def _rfc3339(moment: datetime, fraction: str, offset_minutes: int) -> str:
    local = moment.astimezone(timezone(timedelta(minutes=offset_minutes)))
    sign = "+" if offset_minutes >= 0 else "-"
    hours, minutes = divmod(abs(offset_minutes), 60)
    zone = (
        "Z"
        if offset_minutes == 0 and fraction.startswith("0")
        else f"{sign}{hours:02}:{minutes:02}"
    )
    return local.strftime("%Y-%m-%dT%H:%M:%S") + (f".{fraction}" if fraction else "") + zone


def _instant(moment: datetime, fraction: str, precision: str) -> tuple[datetime, str]:
    """What the rule calls equal, built from the parts (never by parsing the text)."""
    digits = (fraction + "000")[:3] if precision == "ms" else ""
    return moment, digits


@given(MOMENTS, FRACTIONS, OFFSETS, st.sampled_from(["ms", "s"]), st.data())
def test_property_timestamps_equal_iff_the_truncated_utc_instants_are(
    moment: datetime, fraction: str, offset: int, precision: str, data: Any
) -> None:
    how = data.draw(st.sampled_from(["same instant", "nearby", "any"]))
    if how == "same instant":
        other_moment, other_fraction = moment, fraction[:3] + data.draw(FRACTIONS)[:6]
    elif how == "nearby":
        other_moment = moment + timedelta(seconds=data.draw(st.integers(-1, 1)))
        other_fraction = data.draw(FRACTIONS)
    else:
        other_moment, other_fraction = data.draw(MOMENTS), data.draw(FRACTIONS)
    other_offset = data.draw(OFFSETS)
    left = {"at": _rfc3339(moment, fraction, offset)}
    right = {"at": _rfc3339(other_moment, other_fraction, other_offset)}
    equal = _instant(moment, fraction, precision) == _instant(
        other_moment, other_fraction, precision
    )
    rules = CompareRules(timestamp_precision=precision)  # type: ignore[arg-type]
    assert (compare_json(left, right, rules) == []) is equal
    by_path = CompareRules(timestamp_precision={"$.at": precision})  # type: ignore[dict-item]
    assert (compare_json(dict(left), dict(right), by_path) == []) is equal


HEADER_NAMES = st.sampled_from(["Content-Type", "Location", "Date", "Server", "ETag", "Allow"])
HEADERS = st.dictionaries(HEADER_NAMES, st.sampled_from(["a", "b", " a ", "text/html"]), max_size=5)


@given(HEADERS, HEADERS, st.lists(HEADER_NAMES, unique=True, max_size=4))
def test_property_only_listed_headers_can_differ(
    left: dict[str, str], right: dict[str, str], listed: list[str]
) -> None:
    rules = CompareRules(headers=tuple(listed))
    reported = compare_exchanges(Exchange(200, left, b"{}"), Exchange(200, right, b"{}"), rules)
    expected_wheres = [
        f"header:{name.lower()}"
        for name in listed
        if (left.get(name) is None) != (right.get(name) is None)
        or (name in left and name in right and left[name].strip() != right[name].strip())
    ]
    assert [d.where for d in reported] == expected_wheres
    # Lower-cased names on one side change nothing.
    lowered = {k.lower(): v for k, v in right.items()}
    assert compare_exchanges(Exchange(200, left, b"{}"), Exchange(200, lowered, b"{}"), rules) == (
        reported
    )
