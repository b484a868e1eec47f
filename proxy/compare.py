"""Compare two HTTP answers the way Diffy / GitHub's Scientist would: normalise, then diff.

:func:`compare_exchanges` is pure and runs for every shadowed request, so equal bodies take a
byte-compare fast path, JSONPath expressions are compiled once, and nothing does I/O.

* The status codes are always compared.
* Headers: only those the rules list (``headers``, default ``content-type`` and ``location``;
  names case-insensitive) are compared — Date, Server, request ids... always differ. Values are
  compared after trimming; a media type (``content-type``) also case- and space-insensitively
  around ``;``. A header on one side only is ``missing`` / ``extra``.
* JSON bodies (both sides parse as JSON) are normalised by the route's
  :class:`~proxy.config.CompareRules` — ``ignore`` paths are removed from both sides, RFC 3339
  date-times under ``timestamp_precision`` are rewritten in UTC truncated to that precision,
  arrays at ``unordered`` paths are compared as multisets — and then diffed structurally: every
  difference is reported with its JSONPath. ``true`` vs ``1`` and ``1`` vs ``1.0`` are *type*
  differences (a client written in a typed language notices them). Objects whose keys come in a
  different order are a difference too: the contract fixes field order (docs/inventory-api.md).
* ``tolerance`` relaxes the comparison of numbers at the paths it names: ``{"$.total": 0.005}``
  accepts ``|expected - actual| <= 0.005``, ``{"$.total": "0.5%"}`` accepts a difference up to
  0.5% of ``|expected|`` (the monolith's value). It applies to two JSON numbers (an int and a
  float there are not a type difference) and to two decimal strings (``"12.50"``: prices travel
  as strings); arithmetic is decimal, on the values as written. Inside ``unordered`` arrays
  elements are matched by exact value, so tolerance does not apply there.
* ``timestamp_precision`` ``ms`` or ``s``: for every string that is an RFC 3339 date-time with
  an offset (``2026-11-24T23:17:01.123456+01:00``) — or only at the JSONPaths given as a
  mapping — two values are equal when they name the same instant truncated to that precision.
  A difference shows the normalised values (UTC, ``Z``); the stored bodies keep the originals.
* Any other body is compared byte for byte.

The JSONPath expressions of the rules are located by :mod:`proxy.jsonpath`.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from proxy.config import CompareRules
from proxy.jsonpath import Path, find_paths, format_path

_MAX_TEXT = 4096  # how much of a non-JSON body a difference carries


@dataclass(frozen=True)
class Exchange:
    """One side's answer: what the client would have seen."""

    status: int
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True)
class Difference:
    #: "status", "header:<name>", "body" (non-JSON bodies) or a JSONPath such as
    #: "$.results[3].price".
    where: str
    #: "changed" | "missing" (only the expected side has it) | "extra" (only the actual side
    #: has it) | "type" (JSON types differ).
    kind: str
    expected: Any
    actual: Any

    def as_dict(self) -> dict[str, Any]:
        return {
            "where": self.where,
            "kind": self.kind,
            "expected": self.expected,
            "actual": self.actual,
        }


def compare_exchanges(
    expected: Exchange, actual: Exchange, rules: CompareRules
) -> list[Difference]:
    """Every difference between ``expected`` (the monolith) and ``actual`` (the target)."""
    differences: list[Difference] = []
    if expected.status != actual.status:
        differences.append(Difference("status", "changed", expected.status, actual.status))
    differences.extend(compare_headers(expected.headers, actual.headers, rules.headers))
    differences.extend(compare_bodies(expected.body, actual.body, rules))
    return differences


def compare_headers(
    expected: Mapping[str, str], actual: Mapping[str, str], names: tuple[str, ...]
) -> list[Difference]:
    """The headers in ``names`` (lowercase), compared by value; every other header is ignored."""
    if not names:
        return []
    wanted = set(names)
    left = {k.lower(): v for k, v in expected.items() if k.lower() in wanted}
    right = {k.lower(): v for k, v in actual.items() if k.lower() in wanted}
    differences = []
    for name in names:
        before, after = left.get(name), right.get(name)
        if before is None and after is None:
            continue
        where = f"header:{name}"
        if after is None:
            differences.append(Difference(where, "missing", before, None))
        elif before is None:
            differences.append(Difference(where, "extra", None, after))
        elif _header_value(name, before) != _header_value(name, after):
            differences.append(Difference(where, "changed", before, after))
    return differences


_PARAM_SPACE = re.compile(r"\s*;\s*")


def _header_value(name: str, value: str) -> str:
    value = value.strip()
    if name == "content-type":
        return _PARAM_SPACE.sub(";", value).lower()
    return value


def compare_bodies(expected: bytes, actual: bytes, rules: CompareRules) -> list[Difference]:
    """JSON bodies structurally after normalisation, anything else byte for byte."""
    if expected == actual:
        # Normalisation only removes (ignore) or relaxes (unordered): equal bytes never differ.
        return []
    expected_doc, expected_is_json = _parse_json(expected)
    actual_doc, actual_is_json = _parse_json(actual)
    if expected_is_json and actual_is_json:
        return compare_json(expected_doc, actual_doc, rules)
    kind = "type" if expected_is_json != actual_is_json else "changed"
    return [Difference("body", kind, _text(expected), _text(actual))]


def compare_json(expected: Any, actual: Any, rules: CompareRules) -> list[Difference]:
    """Structural diff of two parsed JSON documents under ``rules`` (the arguments are modified
    in place by the normalisation; pass copies if you still need them)."""
    expected, expected_orders = _normalise(expected, rules)
    actual, actual_orders = _normalise(actual, rules)
    if _same_encoding(expected, actual):
        # The common case (a healthy shadow): equal once normalised. One C-encoded string per
        # side is far cheaper than the walk below, which only the documents that differ pay.
        return []
    context = _Context(expected_orders, actual_orders)
    if rules.tolerance:
        for expression, allowed in rules.tolerance.items():
            tolerance = _Tolerance.of(allowed)
            for document in (expected, actual):
                for path in find_paths(document, expression):
                    context.tolerances.setdefault(path, tolerance)
    differences: list[Difference] = []
    _diff(expected, actual, (), context, differences)
    return differences


def _parse_json(body: bytes) -> tuple[Any, bool]:
    if not body:
        return None, False
    try:
        return json.loads(body), True
    except ValueError:  # JSONDecodeError and UnicodeDecodeError
        return None, False


def _text(body: bytes) -> str:
    text = body[:_MAX_TEXT].decode("utf-8", errors="replace")
    if len(body) > _MAX_TEXT:
        text += f"... ({len(body)} bytes)"
    return text


def _normalise(document: Any, rules: CompareRules) -> tuple[Any, dict[Path, list[int]]]:
    """Apply ``ignore``, ``timestamp_precision`` then ``unordered``; return the document and, per
    unordered array, the original index of each element in its normalised order (so reports name
    real indices)."""
    if rules.ignore:
        doomed = {path for expression in rules.ignore for path in find_paths(document, expression)}
        if () in doomed:
            return None, {}
        # Any order: an array element becomes a placeholder (nothing shifts), and a path under
        # one already removed is skipped.
        for path in doomed:
            _delete(document, path)
    precision = rules.timestamp_precision
    if isinstance(precision, str):
        document = _truncate_all_timestamps(document, precision)
    elif precision:
        for expression, unit in precision.items():
            for path in find_paths(document, expression):
                value = _get(document, path)
                if isinstance(value, str):
                    if not path:
                        return truncate_timestamp(value, unit), {}
                    _get(document, path[:-1])[path[-1]] = truncate_timestamp(value, unit)
    orders: dict[Path, list[int]] = {}
    if rules.unordered:
        arrays = {
            path
            for expression in rules.unordered
            for path in find_paths(document, expression)
            if isinstance(_get(document, path), list)
        }
        # Inner arrays first: an outer array's elements are keyed by their normalised content.
        for path in sorted(arrays, key=len, reverse=True):
            array = _get(document, path)
            ranked = sorted(enumerate(array), key=lambda item: _canonical(item[1]))
            array[:] = [value for _, value in ranked]
            orders[path] = [index for index, _ in ranked]
    return document, orders


_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?"
    r"(?:([Zz])|([+-])(\d{2}):(\d{2}))$"
)


def truncate_timestamp(value: str, precision: str) -> str:
    """An RFC 3339 date-time as UTC truncated to ``ms`` or ``s`` (``...T22:17:01.123Z``);
    any other string unchanged. Truncation, not rounding: ``.1239`` is ``.123``."""
    found = _RFC3339.match(value)
    if found is None:
        return value
    year, month, day, hour, minute, second = (int(found.group(n)) for n in range(1, 7))
    fraction, zulu, sign, off_hours, off_minutes = found.group(7, 8, 9, 10, 11)
    offset = timedelta(0)
    if not zulu:
        offset = timedelta(hours=int(off_hours), minutes=int(off_minutes))
        if sign == "-":
            offset = -offset
    try:
        moment = datetime(year, month, day, hour, minute, second, tzinfo=timezone(offset))
        moment = moment.astimezone(UTC)
    except (ValueError, OverflowError):  # month 13, a leap second, out of range in UTC
        return value
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if precision == "ms":
        text += "." + ((fraction or "") + "000")[:3]
    return text + "Z"


def _truncate_all_timestamps(value: Any, precision: str) -> Any:
    if isinstance(value, str):
        return truncate_timestamp(value, precision)
    if isinstance(value, list):
        value[:] = [_truncate_all_timestamps(item, precision) for item in value]
    elif isinstance(value, dict):
        for key, item in value.items():
            value[key] = _truncate_all_timestamps(item, precision)
    return value


_DECIMAL_TEXT = re.compile(r"^-?\d+(\.\d+)?$")


@dataclass(frozen=True)
class _Tolerance:
    allowed: Decimal
    relative: bool

    @classmethod
    def of(cls, spec: float | str) -> _Tolerance:
        if isinstance(spec, str):
            return cls(Decimal(spec.strip().removesuffix("%")) / 100, relative=True)
        return cls(Decimal(str(spec)), relative=False)

    def accepts(self, expected: Any, actual: Any) -> bool | None:
        """Within tolerance; ``None`` when the two values are not both numbers / decimal text."""
        left, right = _decimal(expected), _decimal(actual)
        if left is None or right is None or isinstance(expected, str) != isinstance(actual, str):
            return None
        if left == right:
            return True
        if not (left.is_finite() and right.is_finite()):
            return False
        limit = self.allowed * abs(left) if self.relative else self.allowed
        return abs(left - right) <= limit


def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        if isinstance(value, float) and math.isnan(value):
            return None
        return Decimal(str(value))
    if isinstance(value, str) and _DECIMAL_TEXT.match(value):
        try:
            return Decimal(value)
        except InvalidOperation:  # pragma: no cover - the pattern admits only valid text
            return None
    return None


@dataclass
class _Context:
    """What the structural diff consults besides the two documents."""

    expected_orders: dict[Path, list[int]]
    actual_orders: dict[Path, list[int]]
    #: Concrete paths (normalised coordinates) whose numbers compare with a tolerance.
    tolerances: dict[Path, _Tolerance] = field(default_factory=dict)


def _get(document: Any, path: Path) -> Any:
    for part in path:
        document = document[part]
    return document


class _Ignored:
    """Stands in for an ignored array element, so the elements after it keep their indices."""

    def __repr__(self) -> str:
        return "<ignored>"


_IGNORED = _Ignored()


def _delete(document: Any, path: Path) -> None:
    try:
        parent, last = _get(document, path[:-1]), path[-1]
        if isinstance(parent, list) and isinstance(last, int):
            parent[last] = _IGNORED
        else:
            del parent[last]
    except (KeyError, IndexError, TypeError):
        pass  # already gone with an ancestor


# Key order kept (it is part of the contract); 1, 1.0 and true stay distinct. One encoder for
# every call: json.dumps with options builds a new one each time.
_canonical = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=repr).encode


def _refuse(value: Any) -> Any:
    raise TypeError(f"not JSON: {value!r}")


# Unlike _canonical, refuses the ignored-element placeholder: a document holding one takes the
# walk, so a placeholder never equals a string that happens to read like it.
_strict_encoding = json.JSONEncoder(
    separators=(",", ":"), ensure_ascii=False, default=_refuse
).encode


def _same_encoding(expected: Any, actual: Any) -> bool:
    """Equal as the walk would see them: JSON text keeps key order and tells 1, 1.0 and true
    apart. (NaN encodes as NaN on both sides, which the walk also calls equal.)"""
    try:
        return bool(_strict_encoding(expected) == _strict_encoding(actual))
    except (TypeError, ValueError, RecursionError):  # a placeholder, or nesting too deep
        return False


def _json_type(value: Any) -> str:
    if value is _IGNORED:
        return "ignored"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _shown(value: Any) -> Any:
    """A value as a difference carries it (JSON-serialisable: no ignored placeholders)."""
    if value is _IGNORED:
        return "<ignored>"
    if isinstance(value, list):
        return [_shown(item) for item in value]
    if isinstance(value, dict):
        return {key: _shown(item) for key, item in value.items()}
    return value


def _diff(
    expected: Any,
    actual: Any,
    path: Path,
    context: _Context,
    out: list[Difference],
) -> None:
    tolerance = context.tolerances.get(path) if context.tolerances else None
    if tolerance is not None:
        within = tolerance.accepts(expected, actual)
        if within is not None:
            if not within:
                out.append(Difference(format_path(path), "changed", expected, actual))
            return
    kind = _json_type(expected)
    if kind != _json_type(actual):
        out.append(Difference(format_path(path), "type", _shown(expected), _shown(actual)))
        return
    if kind == "object":
        common = [key for key in expected if key in actual]
        for key in expected:
            if key not in actual:
                out.append(Difference(format_path((*path, key)), "missing", expected[key], None))
        for key in actual:
            if key not in expected:
                out.append(Difference(format_path((*path, key)), "extra", None, actual[key]))
        actual_common = [key for key in actual if key in expected]
        if common != actual_common:
            out.append(Difference(format_path(path), "changed", common, actual_common))
        for key in common:
            _diff(expected[key], actual[key], (*path, key), context, out)
    elif kind == "array":
        if path in context.expected_orders or path in context.actual_orders:
            _diff_multiset(expected, actual, path, context, out)
            return
        for index in range(min(len(expected), len(actual))):
            _diff(expected[index], actual[index], (*path, index), context, out)
        for index in range(len(actual), len(expected)):
            where = format_path((*path, index))
            out.append(Difference(where, "missing", _shown(expected[index]), None))
        for index in range(len(expected), len(actual)):
            where = format_path((*path, index))
            out.append(Difference(where, "extra", None, _shown(actual[index])))
    elif expected != actual and not (
        kind == "float" and math.isnan(expected) and math.isnan(actual)
    ):
        out.append(Difference(format_path(path), "changed", expected, actual))


def _diff_multiset(
    expected: list[Any],
    actual: list[Any],
    path: Path,
    context: _Context,
    out: list[Difference],
) -> None:
    """Elements are matched by value, whatever their order; leftovers are missing / extra."""
    expected_index = context.expected_orders.get(path) or list(range(len(expected)))
    actual_index = context.actual_orders.get(path) or list(range(len(actual)))
    available = Counter(_canonical(value) for value in actual)
    for position, value in enumerate(expected):
        key = _canonical(value)
        if available[key] > 0:
            available[key] -= 1
        else:
            where = format_path((*path, expected_index[position]))
            out.append(Difference(where, "missing", _shown(value), None))
    wanted = Counter(_canonical(value) for value in expected)
    for position, value in enumerate(actual):
        key = _canonical(value)
        if wanted[key] > 0:
            wanted[key] -= 1
        else:
            where = format_path((*path, actual_index[position]))
            out.append(Difference(where, "extra", None, _shown(value)))
