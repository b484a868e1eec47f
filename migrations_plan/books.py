"""Do the books balance across owners? Stock, reservations, payments and orders, each read from
the owner that takes its capability's writes now, as canonical rows (protocol.reconcile_spec:
the same text reconciliation compares, parsed back into fields).

The rules (docs/orders-api.md, *Checkout* and *Cancel*; a seeded order is fulfilled):

* every product's ``reserved`` is the sum of the lines of its ``pending`` reservations;
* a ``confirmed`` order names a ``pending`` reservation of that order and a payment captured for
  the order's total with nothing refunded; a ``fulfilled`` order the same with its reservation
  ``committed``;
* no ``pending`` reservation without a confirmed order naming it, no ``committed`` one without a
  fulfilled order, no payment of an order still holding captured money (captured minus
  refunded) unless the order is confirmed or fulfilled.

Checked at a quiet moment: a checkout in flight holds a reservation before its order exists.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from protocol.reconcile_spec import (
    CHILD_ROW_SEPARATOR,
    CHILD_SEPARATOR,
    NULL_MARK,
    SPECS,
)

Row = dict[str, str | None]
#: The aggregates the books are made of, by name (protocol.reconcile_spec.SPECS).
BOOKS: tuple[str, ...] = ("products", "reservations", "payments", "orders")


def parse(aggregate: str, text: str) -> tuple[Row, list[list[str]]]:
    """A canonical row's fields by name (NULL as None) and its child rows' fields."""
    spec = SPECS[aggregate]
    parts = spec.split(text)
    row: Row = {
        name: (None if parts[name] == NULL_MARK else parts[name]) for name in spec.field_names
    }
    children: list[list[str]] = []
    if spec.children is not None:
        field = parts[spec.children.name]
        children = [child.split(CHILD_SEPARATOR) for child in field.split(CHILD_ROW_SEPARATOR)]
        children = [child for child in children if child != [""]]
        row.pop(spec.children.name, None)
    return row, children


@dataclass(frozen=True)
class Books:
    """The four aggregates' rows, parsed: key -> (fields, child rows)."""

    products: Mapping[str, Row]
    reservations: Mapping[str, tuple[Row, list[list[str]]]]
    payments: Mapping[str, Row]
    orders: Mapping[str, Row]

    @classmethod
    def from_texts(cls, texts: Mapping[str, Iterable[str]]) -> Books:
        """From each aggregate's canonical row texts."""
        parsed = {name: [parse(name, text) for text in texts[name]] for name in BOOKS}
        return cls(
            products={row["sku"] or "": row for row, _ in parsed["products"]},
            reservations={row["id"] or "": (row, lines) for row, lines in parsed["reservations"]},
            payments={row["id"] or "": row for row, _ in parsed["payments"]},
            orders={row["id"] or "": row for row, _ in parsed["orders"]},
        )


def _money(value: str | None) -> Decimal:
    return Decimal(value or "0")


def imbalances(books: Books) -> list[str]:
    """Where the books disagree, one short phrase each (empty: they balance)."""
    found: list[str] = []
    held: Counter[str] = Counter()
    for _key, (reservation, lines) in books.reservations.items():
        if reservation["status"] == "pending":
            for sku, quantity in lines:
                held[sku] += int(quantity)
    for sku, product in sorted(books.products.items()):
        if int(product["reserved"] or 0) != held[sku]:
            found.append(
                f"{sku} reserved {product['reserved']}, pending reservations hold {held[sku]}"
            )
    expected = {"confirmed": "pending", "fulfilled": "committed"}
    claimed_reservations: dict[str, str] = {}
    claimed_payments: set[str] = set()
    for order_id, order in sorted(books.orders.items()):
        status = order["status"] or ""
        if status not in expected:
            continue
        reservation_id, payment_id = order["reservation_id"], order["payment_id"]
        held_row = books.reservations.get(reservation_id or "")
        if held_row is None:
            found.append(f"{status} order {order_id} has no reservation {reservation_id}")
        elif held_row[0]["status"] != expected[status] or held_row[0]["order_id"] != order_id:
            found.append(
                f"{status} order {order_id}: reservation {reservation_id} is "
                f"{held_row[0]['status']}"
            )
        if reservation_id:
            claimed_reservations[reservation_id] = status
        payment = books.payments.get(payment_id or "")
        if payment is None:
            found.append(f"{status} order {order_id} has no payment {payment_id}")
        else:
            claimed_payments.add(payment_id or "")
            kept = _money(payment["captured_amount"]) - _money(payment["refunded_amount"])
            if payment["status"] != "captured" or kept != _money(order["total"]):
                found.append(
                    f"{status} order {order_id} of {order['total']}: payment {payment_id} is "
                    f"{payment['status']} with {kept} kept"
                )
    for key, (reservation, _lines) in sorted(books.reservations.items()):
        wanted = {"pending": "confirmed", "committed": "fulfilled"}.get(reservation["status"] or "")
        if wanted and claimed_reservations.get(key) != wanted:
            found.append(f"{reservation['status']} reservation {key} has no {wanted} order")
    for key, payment in sorted(books.payments.items()):
        kept = _money(payment["captured_amount"]) - _money(payment["refunded_amount"])
        if payment["order_id"] and kept > 0 and key not in claimed_payments:
            found.append(
                f"payment {key} keeps {kept} for order {payment['order_id']}, "
                "which is not confirmed or fulfilled"
            )
    return found
