"""JSONPath expressions located in parsed JSON documents: where the compare rules point.

jsonpath-ng parses an expression; :func:`find_paths` gives the concrete path (keys and indices)
of every match. Supported: ``$.a.b``, ``$.results[*].x``, ``$..x``, ``$.a[2]``, ``$['odd key']``
and whatever else jsonpath-ng parses and can report a concrete path for.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any

from jsonpath_ng import JSONPath, parse
from jsonpath_ng.jsonpath import Child, Descendants, Fields, Index, Root, Slice, This, Wildcard

#: One step into a JSON document: an object key or an array index.
PathPart = str | int
Path = tuple[PathPart, ...]

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class InvalidJSONPath(ValueError):
    """An expression is not a JSONPath this module can apply."""


@lru_cache(maxsize=1024)
def compile_jsonpath(expression: str) -> JSONPath:
    """Parse (once) a JSONPath used in compare rules; :class:`InvalidJSONPath` says why not."""
    if not expression.startswith("$"):
        raise InvalidJSONPath(f"{expression!r} must start with '$'")
    try:
        return parse(expression)
    except Exception as err:  # jsonpath-ng raises bare Exception subclasses for syntax errors
        raise InvalidJSONPath(f"{expression!r} is not a JSONPath: {err}") from err


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

    jsonpath-ng parses the expression; the common node kinds are walked here, because
    jsonpath-ng's ``find`` is far slower on them and every shadowed request pays it twice.
    Anything else (filters, ...) falls back to ``find``. tests/proxy/test_jsonpath.py checks
    both give the same paths.
    """
    compiled = compile_jsonpath(expression)
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
