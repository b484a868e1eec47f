"""The bulk wire format of a backfill page: PostgreSQL ``COPY`` text format.

A products page travels as the text ``COPY ... TO STDOUT`` writes (one line per row, fields
separated by tabs, ``\\N`` for NULL, backslash escapes), in the column order of
``PRODUCT_COPY_COLUMNS``. A page of an aggregate with child rows (payments and their refunds,
orders and their lines) is its rows, then a line ``\\.`` (``CHILDREN_MARK``), then the child rows
of those rows (``join_page`` / ``split_page``). On PostgreSQL both sides hand it to the server as
is (the reader's ``COPY TO STDOUT``, the owner's ``COPY FROM STDIN``), so neither side builds a
Python object per row; that is what makes the bulk path fast (bench/backfill_copy.py and
bench/backfill_states.py measure it against JSON rows). Where a side runs on SQLite it encodes or
decodes the same text with the functions below.

Timestamps are written as ISO 8601 with an offset (``2026-11-25 14:07:34.123456+00``, what
PostgreSQL writes in a UTC session) and decimals as their text.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, AnyStr, Final, overload

#: The columns of a products page, in order (the same names on both sides).
PRODUCT_COPY_COLUMNS: Final = (
    "sku",
    "name",
    "price",
    "on_hand",
    "reserved",
    "version",
    "created_at",
    "updated_at",
)

#: A page of payments: the payments' columns, then (after ``CHILDREN_MARK``) their refunds'.
PAYMENT_COPY_COLUMNS: Final = (
    "id",
    "customer_id",
    "order_id",
    "amount",
    "status",
    "captured_amount",
    "refunded_amount",
    "decline_reason",
    "gateway_reference",
    "version",
    "created_at",
    "updated_at",
)
REFUND_COPY_COLUMNS: Final = ("id", "payment_id", "amount", "created_at")

#: A page of orders: the orders' columns, then (after ``CHILDREN_MARK``) their lines'.
ORDER_COPY_COLUMNS: Final = (
    "id",
    "customer_id",
    "status",
    "cancel_reason",
    "total",
    "payment_id",
    "reservation_id",
    "version",
    "created_at",
    "updated_at",
)
ORDER_LINE_COPY_COLUMNS: Final = ("order_id", "sku", "quantity", "unit_price", "line_total")

#: The line between a page's rows and their child rows: COPY's own end-of-data marker, which no
#: data line can read as (a backslash in a field is written doubled).
CHILDREN_MARK: Final = "\\.\n"

NULL: Final = "\\N"

_ESCAPES: Final = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"}
_UNESCAPES: Final = {
    "\\": "\\",
    "t": "\t",
    "n": "\n",
    "r": "\r",
    "b": "\b",
    "f": "\f",
    "v": "\v",
}


class CopyTextError(ValueError):
    """The text is not a COPY text page of the expected columns."""


def encode_field(value: object) -> str:
    if value is None:
        return NULL
    text = value.isoformat(sep=" ") if isinstance(value, datetime) else str(value)
    return "".join(_ESCAPES.get(char, char) for char in text)


def encode_rows(rows: Iterable[Sequence[object]]) -> str:
    """COPY text of ``rows`` (each a sequence of column values), one line per row."""
    return "".join("\t".join(encode_field(v) for v in row) + "\n" for row in rows)


def _decode_field(text: str) -> str | None:
    if text == NULL:
        return None
    if "\\" not in text:
        return text
    out: list[str] = []
    chars = iter(text)
    for char in chars:
        if char != "\\":
            out.append(char)
            continue
        escaped = next(chars, None)
        if escaped is None or escaped not in _UNESCAPES:
            # Octal and hex escapes are never written by COPY for text columns in UTF-8.
            raise CopyTextError(f"unsupported escape \\{escaped or ''} in {text!r}")
        out.append(_UNESCAPES[escaped])
    return "".join(out)


def decode_rows(text: str, columns: Sequence[str]) -> list[dict[str, str | None]]:
    """The rows of a COPY text page as dicts of column -> text (None for NULL)."""
    rows: list[dict[str, str | None]] = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line:
            continue
        fields = line.split("\t")
        if len(fields) != len(columns):
            raise CopyTextError(f"line {number} has {len(fields)} fields, expected {len(columns)}")
        rows.append(dict(zip(columns, map(_decode_field, fields), strict=True)))
    return rows


def parse_timestamps(row: dict[str, Any], fields: Iterable[str]) -> None:
    """Turn ``row``'s timestamp ``fields`` (where present and not NULL) from COPY text into
    datetimes, in place. PostgreSQL writes "+00" offsets: ISO 8601, but not the RFC 3339 the
    contract's models read from text."""
    for name in fields:
        value = row.get(name)
        if value is not None:
            row[name] = datetime.fromisoformat(value)


def first_field_of_last_line(text: str) -> str | None:
    """The key (first column) of a page's last row, or None for an empty page."""
    stripped = text.rstrip("\n")
    if not stripped:
        return None
    last = stripped.rsplit("\n", 1)[-1]
    return _decode_field(last.split("\t", 1)[0])


def count_rows(text: str | bytes) -> int:
    """How many rows a COPY text page (``str``, or its UTF-8 ``bytes``) holds: one per line."""
    return text.count(b"\n") if isinstance(text, bytes) else text.count("\n")


def join_page(rows: bytes, children: bytes) -> bytes:
    """A page of ``rows`` (COPY text) with their ``children`` (COPY text) after the mark."""
    return rows + CHILDREN_MARK.encode() + children


@overload
def split_page(page: str) -> tuple[str, str]: ...
@overload
def split_page(page: bytes) -> tuple[bytes, bytes]: ...
def split_page(page: str | bytes) -> tuple[str, str] | tuple[bytes, bytes]:
    """A page's rows and its child rows (empty when the page has no ``CHILDREN_MARK``: a page
    of an aggregate without children, such as products), each of the page's type."""
    if isinstance(page, str):
        return _split(page, CHILDREN_MARK)
    return _split(page, CHILDREN_MARK.encode())


def _split(page: AnyStr, mark: AnyStr) -> tuple[AnyStr, AnyStr]:
    if page.startswith(mark):
        return page[:0], page[len(mark) :]
    at = page.find(mark[-1:] + mark)  # the mark on a line of its own, after a row
    if at < 0:
        return page, page[:0]
    return page[: at + 1], page[at + 1 + len(mark) :]
