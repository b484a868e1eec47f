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

JSONPath support (jsonpath-ng): ``$.a.b``, ``$.results[*].x``, ``$..x``, ``$.a[2]``,
``$['odd key']`` — whatever jsonpath-ng parses and can report a concrete path for.
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
from functools import lru_cache
from typing import Any

from jsonpath_ng import JSONPath, parse
from jsonpath_ng.jsonpath import Child, Descendants, Fields, Index, Root, Slice, This, Wildcard

from proxy.config import CompareRules

#: One step into a JSON document: an object key or an array index.
PathPart = str | int
Path = tuple[PathPart, ...]

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
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


class InvalidJSONPath(ValueError):
    """A compare rule is not a JSONPath this module can apply."""


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
        # side costs ~1/20 of the walk below, which only the documents that differ then pay.
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


def compile_jsonpath(expression: str) -> JSONPath:
    """Parse (once) a JSONPath used in compare rules; :class:`InvalidJSONPath` says why not."""
    return _compile(expression)


def check_rules(rules: CompareRules) -> list[str]:
    """One line per rule that cannot be applied (empty when every rule is usable)."""
    precision = rules.timestamp_precision
    problems = []
    for name, expressions in (
        ("ignore", rules.ignore),
        ("unordered", rules.unordered),
        ("tolerance", tuple(rules.tolerance)),
        ("timestamp_precision", tuple(precision) if isinstance(precision, dict) else ()),
    ):
        for expression in expressions:
            try:
                _compile(expression)
            except InvalidJSONPath as err:
                problems.append(f"compare.{name}: {err}")
    return problems


def format_path(path: Path) -> str:
    """``("results", 3, "price")`` -> ``$.results[3].price``."""
    parts = ["$"]
    for part in path:
        if isinstance(part, int):
            parts.append(f"[{part}]")
        elif _IDENTIFIER.match(part):
            parts.append(f".{part}")
        else:
            parts.append("[" + json.dumps(part) + "]")
    return "".join(parts)


@lru_cache(maxsize=1024)
def _compile(expression: str) -> JSONPath:
    if not expression.startswith("$"):
        raise InvalidJSONPath(f"{expression!r} must start with '$'")
    try:
        return parse(expression)
    except Exception as err:  # jsonpath-ng raises bare Exception subclasses for syntax errors
        raise InvalidJSONPath(f"{expression!r} is not a JSONPath: {err}") from err


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


def _concrete_path(node: object) -> Path:
    """jsonpath-ng's ``full_path`` (Child/Fields/Index nodes) -> a tuple of keys and indices."""
    if isinstance(node, Child):
        return _concrete_path(node.left) + _concrete_path(node.right)
    if isinstance(node, Fields):
        return tuple(node.fields)
    if isinstance(node, Index):
        indices = getattr(node, "indices", None) or (node.index,)  # type: ignore[attr-defined]
        return tuple(int(i) for i in indices)
    if isinstance(node, Root | This):
        return ()
    raise InvalidJSONPath(f"cannot locate a match of kind {type(node).__name__}")


def find_paths(document: Any, expression: str) -> list[Path]:
    """Concrete paths of every match of ``expression`` in ``document``.

    jsonpath-ng parses the expression; the common node kinds are walked here rather than by
    jsonpath-ng's ``find``, which measured ~1 ms for ``$..x`` on a 50-row page (every shadowed
    request pays it twice) against ~0.05 ms for this walk. Anything else (filters, ...) falls
    back to ``find``. tests/proxy/test_compare.py checks both give the same paths.
    """
    compiled = _compile(expression)
    try:
        return [path for path, _ in _locate(compiled, document)]
    except _Unsupported:
        return [_concrete_path(match.full_path) for match in compiled.find(document)]


class _Unsupported(Exception):
    pass


def _locate(node: JSONPath, value: Any) -> list[tuple[Path, Any]]:
    if isinstance(node, Root | This):
        return [((), value)]
    if isinstance(node, Child):
        return [
            (path + sub_path, found)
            for path, inner in _locate(node.left, value)
            for sub_path, found in _locate(node.right, inner)
        ]
    if isinstance(node, Descendants):
        out: list[tuple[Path, Any]] = []
        for path, inner in _locate(node.left, value):
            if isinstance(inner, dict | list):
                _descend(node.right, inner, path, out)
            else:
                out.extend((path + sub, found) for sub, found in _locate(node.right, inner))
        return out
    if isinstance(node, Wildcard) or (isinstance(node, Fields) and node.fields == ("*",)):
        if isinstance(value, dict):
            return [((key,), item) for key, item in value.items()]
        if isinstance(value, list):
            return [((index,), item) for index, item in enumerate(value)]
        return []
    if isinstance(node, Fields):
        if not isinstance(value, dict):
            return []
        return [((key,), value[key]) for key in node.fields if key in value]
    if isinstance(node, Index):
        if not isinstance(value, list):
            return []
        size = len(value)
        indices = [i + size if i < 0 else i for i in node.indices]
        return [((i,), value[i]) for i in indices if 0 <= i < size]
    if isinstance(node, Slice):
        if not isinstance(value, list):
            return []
        chosen = range(len(value))[slice(node.start, node.end, node.step)]
        return [((i,), value[i]) for i in chosen]
    raise _Unsupported(type(node).__name__)


def _descend(node: JSONPath, value: Any, path: Path, out: list[tuple[Path, Any]]) -> None:
    """Match ``node`` at ``value`` and at every container below it, in document order.

    Scalars are not visited: no node kind this module walks matches inside a scalar.
    """
    out.extend((path + sub_path, found) for sub_path, found in _locate(node, value))
    children = value.items() if isinstance(value, dict) else enumerate(value)
    for key, item in children:
        if isinstance(item, dict | list):
            _descend(node, item, (*path, key), out)


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
# every call: building one per json.dumps call was a third of the multiset cost.
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
