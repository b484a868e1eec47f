"""The limits of every JSON request body an owner parses, and the one parser that applies them.

A body that breaks a limit is refused before any view sees it, with the contract's 400
``malformed_request`` and a detail naming the limit (``JsonLimitExceeded.detail``); a body larger
than ``MAX_BODY_BYTES`` is the 400 ``bad_request`` Django answers for any oversized body. The
monolith's DRF parser (``monolith.api.parsers``) and the services' body reading
(``extracted.chassis.web.request_body``) both call ``loads``, so every owner refuses the same
bodies with the same answer.

The limits sit well above anything the contract sends (the largest public body is a reservation or
a checkout of 100 lines, three levels deep; the largest internal one is a reconciliation page of
``contracts.reconcile.MAX_ROWS`` rows) and well below what costs a worker real time or memory:

* nesting depth: Python's parser recurses per level, and a few KB of ``[`` exhaust the stack;
* keys per object and items per array: bound the work every later step does per body;
* string length (keys too): one field cannot carry megabytes into a log line or a column;
* numbers: an integer literal longer than ``MAX_NUMBER_CHARS`` (Python refuses to convert those
  past 4300 digits anyway, and converting is quadratic below that), and a float whose value
  overflows to infinity (``1e999999``), which no field can hold.

Written here rather than taken from a library: the standard parser is the one both stacks
already use (DRF's semantics: ``NaN``/``Infinity`` refused), and the checks are a walk over what
it returns plus two number hooks.
"""

from __future__ import annotations

import json
import math
from typing import Any, Final

#: Django's ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (the monolith's setting is this value).
MAX_BODY_BYTES: Final = 2_621_440
MAX_DEPTH: Final = 32
MAX_OBJECT_KEYS: Final = 1_000
MAX_ARRAY_ITEMS: Final = 10_000
MAX_STRING_CHARS: Final = 65_536
MAX_NUMBER_CHARS: Final = 100

MALFORMED_DETAIL: Final = "Body is not valid JSON."


class JsonLimitExceeded(ValueError):
    """The body is JSON but breaks one of the limits above; ``detail`` says which."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _integer(text: str) -> int:
    if len(text) > MAX_NUMBER_CHARS:
        raise JsonLimitExceeded(f"Body has a number longer than {MAX_NUMBER_CHARS} characters.")
    return int(text)


def _float(text: str) -> float:
    if len(text) > MAX_NUMBER_CHARS:
        raise JsonLimitExceeded(f"Body has a number longer than {MAX_NUMBER_CHARS} characters.")
    value = float(text)
    if not math.isfinite(value):
        raise JsonLimitExceeded("Body has a number too large to represent.")
    return value


def _too_long() -> JsonLimitExceeded:
    return JsonLimitExceeded(f"Body has a string longer than {MAX_STRING_CHARS} characters.")


def _check_shape(value: Any) -> None:
    """Walk the parsed value without recursion: depth, keys, items, string lengths."""
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        node, depth = pending.pop()
        if isinstance(node, str):
            if len(node) > MAX_STRING_CHARS:
                raise _too_long()
            continue
        if not isinstance(node, dict | list):
            continue
        if depth > MAX_DEPTH:
            raise JsonLimitExceeded(f"Body nests deeper than {MAX_DEPTH} levels.")
        if isinstance(node, dict):
            if len(node) > MAX_OBJECT_KEYS:
                raise JsonLimitExceeded(
                    f"Body has an object with more than {MAX_OBJECT_KEYS} keys."
                )
            for key, item in node.items():
                if len(key) > MAX_STRING_CHARS:
                    raise _too_long()
                pending.append((item, depth + 1))
        else:
            if len(node) > MAX_ARRAY_ITEMS:
                raise JsonLimitExceeded(
                    f"Body has an array with more than {MAX_ARRAY_ITEMS} items."
                )
            pending.extend((item, depth + 1) for item in node)


def loads(text: str) -> Any:
    """``text`` parsed as DRF's strict JSON parser does, within the limits.

    Raises ``JsonLimitExceeded`` for a limit, ``ValueError`` for anything else that is not JSON.
    """
    try:
        value = json.loads(
            text, parse_constant=_refuse_constant, parse_int=_integer, parse_float=_float
        )
    except RecursionError:
        # The parser recursed past the interpreter's limit: far deeper than MAX_DEPTH.
        raise JsonLimitExceeded(f"Body nests deeper than {MAX_DEPTH} levels.") from None
    _check_shape(value)
    return value
