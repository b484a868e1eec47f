"""What reconciliation compares, per aggregate: a small spec from which both owners derive the
canonical text of a row (in Python for SQLite, as a SQL expression for PostgreSQL), so neither
side hard-codes an aggregate's fields.

A spec names the aggregate's key, its fields in canonical order with their kind, and its child
rows (a payment's refunds, an order's or a reservation's lines) where it has them:

* ``text``: the value as stored (byte order where it is a key); ``int``: decimal digits;
* ``decimal(scale)``: exactly ``scale`` places, whatever scale the column stores
  (``12.5``, ``12.50``, ``12.500`` and SQLite's REAL ``12.5`` are one value);
* ``timestamp``: UTC as PostgreSQL writes a ``timestamp`` (protocol.canonical.canonical_timestamp),
  whatever precision, zone or text form a database hands back;
* ``uuid``: hyphenated lowercase, whether the column is PostgreSQL's ``uuid`` or the ``char(32)``
  hex without hyphens Django and SQLAlchemy both write on SQLite. That text sorts like the 16
  bytes PostgreSQL compares ``uuid`` by and like the hex SQLite compares, so a key range
  ``id >= lo`` means the same rows on every side;
* a NULL is ``NULL_MARK`` (a control character no field holds), so NULL and ``""`` differ.

The row's text is its fields joined by ``SEPARATOR``, then, for an aggregate with child rows, one
more field named after them: each child's fields joined by ``CHILD_SEPARATOR``, the children in
byte order of that text (the child's key comes first and is unique in its parent, so that is the
order of the keys) joined by ``CHILD_ROW_SEPARATOR``, empty when there are none. A refund changed
behind sync's back therefore shows as its payment being ``different`` in the field ``refunds``.

Column names are the spec's on every side today; a side whose column is named otherwise says so
in its ``protocol.reconcile_sql.Storage``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from contracts.events import Capability
from protocol.canonical import SEPARATOR, canonical_decimal, canonical_timestamp

#: Between the fields of one child row, and between child rows (both sort below every
#: printable character, so sorting child texts sorts their keys).
CHILD_SEPARATOR: Final = "\x1d"
CHILD_ROW_SEPARATOR: Final = "\x1e"
#: A NULL field (never the text of a value, so NULL and the empty string differ).
NULL_MARK: Final = "\x1a"


class Kind(StrEnum):
    TEXT = "text"
    INT = "int"
    DECIMAL = "decimal"
    TIMESTAMP = "timestamp"
    UUID = "uuid"


def canonical_uuid(value: object) -> str:
    """Hyphenated lowercase, from a ``uuid.UUID``, its hyphenated text or SQLite's 32 hex."""
    return str(value if isinstance(value, uuid.UUID) else uuid.UUID(str(value)))


def _canonical_int(value: object) -> str:
    return str(int(value))  # type: ignore[call-overload]


def _canonical_timestamp(value: object) -> str:
    if not isinstance(value, datetime | str):
        raise TypeError(f"not a timestamp: {value!r}")
    return canonical_timestamp(value)


@dataclass(frozen=True)
class Field:
    """One field of an aggregate (or of its child rows) and how it is written canonically."""

    name: str
    kind: Kind
    #: Decimal places (``decimal`` only).
    scale: int = 0
    nullable: bool = False

    def canonical(self, value: object) -> str:
        """The field's canonical text from whatever form a database hands back."""
        if value is None:
            return NULL_MARK
        if self.kind is Kind.DECIMAL:
            return canonical_decimal(value, self.scale)
        return _PYTHON[self.kind](value)

    def pg(self, ref: str) -> str:
        """The canonical text as a PostgreSQL expression over the column ``ref``."""
        if self.kind is Kind.DECIMAL:
            # round(numeric, n) has scale n, so its text has exactly n places.
            text = f"round({ref}, {int(self.scale)})::text"
        elif self.kind is Kind.TIMESTAMP:
            # PostgreSQL's timestamp output: about twice as fast as to_char over many rows.
            text = f"({ref} AT TIME ZONE 'UTC')::text"
        elif self.kind is Kind.TEXT:
            text = ref
        else:
            text = f"{ref}::text"
        return f"coalesce({text}, chr({ord(NULL_MARK)}))" if self.nullable else text


_PYTHON: dict[Kind, Callable[[object], str]] = {
    Kind.TEXT: str,
    Kind.INT: _canonical_int,
    Kind.TIMESTAMP: _canonical_timestamp,
    Kind.UUID: canonical_uuid,
}


@dataclass(frozen=True)
class ChildRows:
    """The child rows of an aggregate, one field of its canonical text."""

    #: The field's name in the parent's text (and in drift reports): ``refunds``, ``lines``.
    name: str
    #: The child's column naming its parent.
    parent_key: str
    #: In canonical order; the first is the child's key within its parent.
    fields: tuple[Field, ...]

    def canonical(self, values: Sequence[object]) -> str:
        """One child row's text."""
        return CHILD_SEPARATOR.join(
            f.canonical(v) for f, v in zip(self.fields, values, strict=True)
        )

    def pg(self, refs: Sequence[str]) -> str:
        """One child row's text as a PostgreSQL expression over its columns ``refs``."""
        parts = ", ".join(f.pg(ref) for f, ref in zip(self.fields, refs, strict=True))
        return f"concat_ws(chr({ord(CHILD_SEPARATOR)}), {parts})"


def join_children(texts: Sequence[str]) -> str:
    """The child rows' field of a parent's text from its children's texts, in any order."""
    return CHILD_ROW_SEPARATOR.join(sorted(texts))


@dataclass(frozen=True)
class AggregateSpec:
    #: The name in ``/internal/reconcile/<name>/...`` and in reports: ``payments``.
    name: str
    #: The capability whose service owns the aggregate.
    capability: Capability
    #: In canonical order; the first is the key, and one is ``version``.
    fields: tuple[Field, ...]
    children: ChildRows | None = None

    def __post_init__(self) -> None:
        if self.key.kind not in (Kind.TEXT, Kind.UUID) or self.key.nullable:
            raise ValueError(f"{self.name}: the key must be non-null text or uuid")
        if "version" not in (f.name for f in self.fields):
            raise ValueError(f"{self.name}: an aggregate has a version")

    @property
    def key(self) -> Field:
        return self.fields[0]

    @property
    def field_names(self) -> tuple[str, ...]:
        """The names of the canonical text's parts, in order (drift reports name them)."""
        names = tuple(f.name for f in self.fields)
        return names if self.children is None else (*names, self.children.name)

    def canonical(self, values: Sequence[object], children: str | None = None) -> str:
        """A row's canonical text from its stored fields (in ``fields`` order) and, for an
        aggregate with child rows, their field (``join_children``; None: no child rows)."""
        parts = [f.canonical(v) for f, v in zip(self.fields, values, strict=True)]
        if self.children is not None:
            parts.append(children or "")
        return SEPARATOR.join(parts)

    def canonical_state(self, state: Mapping[str, Any]) -> str:
        """The canonical text of the row a contract state (``contracts.events``, as a JSON dict)
        describes: the spec's names are the state's, its child rows the state's list."""
        children = None
        if self.children is not None:
            rows = state[self.children.name]
            fields = self.children.fields
            children = join_children(
                [self.children.canonical([row[f.name] for f in fields]) for row in rows]
            )
        return self.canonical([state[f.name] for f in self.fields], children)

    def pg(self, refs: Sequence[str] | None = None, children: str | None = None) -> str:
        """The row's canonical text as a PostgreSQL expression over its columns ``refs`` (by
        default named as the fields) and, with child rows, the expression of their field
        (``string_agg`` of ``ChildRows.pg``; NULL when there are none)."""
        columns = [f.name for f in self.fields] if refs is None else refs
        parts = [f.pg(ref) for f, ref in zip(self.fields, columns, strict=True)]
        if self.children is not None:
            if children is None:
                raise ValueError(f"{self.name}: the text needs its child rows' expression")
            parts.append(f"coalesce({children}, '')")
        return f"concat_ws(chr({ord(SEPARATOR)}), {', '.join(parts)})"

    def split(self, text: str) -> dict[str, str]:
        """A canonical text back into its named parts (to name the fields that differ)."""
        return dict(zip(self.field_names, text.split(SEPARATOR), strict=True))

    def canonical_key(self, value: object) -> str:
        return self.key.canonical(value)

    def check_key(self, key: str) -> str:
        """``key`` if it is a canonical key of this aggregate; ValueError otherwise (a uuid
        in another spelling would sort differently from the keys it is compared with)."""
        try:
            canonical = self.canonical_key(key)
        except (ValueError, TypeError):
            raise ValueError(f"{key!r} is not a {self.name} key") from None
        if canonical != key:
            raise ValueError(f"{key!r} is not a canonical {self.name} key (use {canonical!r})")
        return key


def _money(name: str, *, nullable: bool = False) -> Field:
    return Field(name, Kind.DECIMAL, scale=2, nullable=nullable)


_VERSION = Field("version", Kind.INT)
_CREATED = Field("created_at", Kind.TIMESTAMP)
_UPDATED = Field("updated_at", Kind.TIMESTAMP)

PRODUCTS: Final = AggregateSpec(
    name="products",
    capability="inventory",
    fields=(
        Field("sku", Kind.TEXT),
        Field("name", Kind.TEXT),
        _money("price"),
        Field("on_hand", Kind.INT),
        Field("reserved", Kind.INT),
        _VERSION,
        _CREATED,
        _UPDATED,
    ),
)

RESERVATIONS: Final = AggregateSpec(
    name="reservations",
    capability="inventory",
    fields=(
        Field("id", Kind.UUID),
        Field("order_id", Kind.UUID),
        Field("status", Kind.TEXT),
        _VERSION,
        _CREATED,
        _UPDATED,
    ),
    children=ChildRows(
        name="lines",
        parent_key="reservation_id",
        fields=(Field("sku", Kind.TEXT), Field("quantity", Kind.INT)),
    ),
)

PAYMENTS: Final = AggregateSpec(
    name="payments",
    capability="payments",
    fields=(
        Field("id", Kind.UUID),
        Field("customer_id", Kind.UUID),
        Field("order_id", Kind.UUID, nullable=True),
        _money("amount"),
        Field("status", Kind.TEXT),
        _money("captured_amount"),
        _money("refunded_amount"),
        Field("decline_reason", Kind.TEXT, nullable=True),
        Field("gateway_reference", Kind.TEXT, nullable=True),
        _VERSION,
        _CREATED,
        _UPDATED,
    ),
    children=ChildRows(
        name="refunds",
        parent_key="payment_id",
        fields=(Field("id", Kind.UUID), _money("amount"), _CREATED),
    ),
)

ORDERS: Final = AggregateSpec(
    name="orders",
    capability="orders",
    fields=(
        Field("id", Kind.UUID),
        Field("customer_id", Kind.UUID),
        Field("status", Kind.TEXT),
        Field("cancel_reason", Kind.TEXT, nullable=True),
        _money("total"),
        Field("payment_id", Kind.UUID, nullable=True),
        Field("reservation_id", Kind.UUID, nullable=True),
        _VERSION,
        _CREATED,
        _UPDATED,
    ),
    children=ChildRows(
        name="lines",
        parent_key="order_id",
        fields=(
            Field("sku", Kind.TEXT),
            Field("quantity", Kind.INT),
            _money("unit_price"),
            _money("line_total"),
        ),
    ),
)

#: Every reconciled aggregate by name, in the order ``--aggregate all`` takes them.
SPECS: Final[dict[str, AggregateSpec]] = {
    spec.name: spec for spec in (PRODUCTS, RESERVATIONS, PAYMENTS, ORDERS)
}


def spec_named(name: str) -> AggregateSpec:
    """The spec of ``name``; KeyError with the known names otherwise."""
    try:
        return SPECS[name]
    except KeyError:
        raise KeyError(f"no reconciled aggregate {name!r} (known: {', '.join(SPECS)})") from None
