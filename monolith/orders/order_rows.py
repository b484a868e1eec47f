"""The order's own rows, shared by the two ways a write runs (``services.py``: one local
transaction while every port is in process; ``order_steps.py``: steps with a durable record
once a port is remote): the requested lines merged and priced, the order locked for a change,
the order stored or saved with its outbox event (``version`` + 1 on every write, one event per
write, in the caller's transaction).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from monolith.errors import RuleValidationError
from monolith.inventory.errors import Shortage
from monolith.inventory.models import Product
from monolith.money import MAX_AMOUNT, cents, money
from monolith.orders.errors import OrderNotConfirmed, OrderNotFound
from monolith.orders.models import Order, OrderLine, OrderStatus
from monolith.orders.states import order_state
from monolith.outbox.services import outbox_record
from monolith.reverse_sync.direction import require_writable


@dataclass(frozen=True)
class CheckoutResult:
    """The stored order, and why it was cancelled when it was: the shortages (for
    ``insufficient_stock``) or the gateway's reason (for ``payment_declined``)."""

    order: Order
    shortages: list[Shortage] = field(default_factory=list)
    decline_reason: str | None = None


def record_order_event(order: Order, event_type: str) -> None:
    outbox_record(
        aggregate_type="order",
        aggregate_id=str(order.id),
        event_type=event_type,
        version=order.version,
        payload=order_state(order),
        occurred_at=order.updated_at,
    )


def merged_lines(lines: Iterable[tuple[str, int]]) -> tuple[dict[str, int], dict[str, int]]:
    """(quantities by sku in sku order, index of each sku's first line in the request)."""
    quantities: dict[str, int] = {}
    first_index: dict[str, int] = {}
    for index, (sku, quantity) in enumerate(lines):
        if quantity < 1:
            raise RuleValidationError(
                {f"lines.{index}.quantity": ["Ensure this value is greater than or equal to 1."]}
            )
        quantities[sku] = quantities.get(sku, 0) + quantity
        first_index.setdefault(sku, index)
    return dict(sorted(quantities.items())), first_index


def priced_lines(
    wanted: dict[str, int], first_index: dict[str, int], *, lock: bool = True
) -> list[OrderLine]:
    """One unsaved line per sku, priced from the product rows. With ``lock`` (one local
    transaction) they stay locked (sku order) until the checkout commits: the price and the stock
    seen are the ones the order gets. Every unknown sku is a field error on its (first) line; a
    total the money columns cannot hold or a total of nothing is an error on ``lines``."""
    rows = Product.objects.filter(sku__in=list(wanted)).order_by("sku")
    if lock:
        rows = rows.select_for_update()
    products = {product.sku: product for product in rows}
    unknown = {
        f"lines.{first_index[sku]}.sku": [f"Product '{sku}' not found."]
        for sku in wanted
        if sku not in products
    }
    if unknown:
        raise RuleValidationError(unknown)
    lines = [
        OrderLine(
            sku=sku,
            quantity=quantity,
            unit_price=products[sku].price,
            line_total=cents(products[sku].price * quantity),
        )
        for sku, quantity in wanted.items()
    ]
    total = sum((line.line_total for line in lines), Decimal("0.00"))
    if total > MAX_AMOUNT:
        raise RuleValidationError(
            {"lines": [f"Ensure the order total is no more than {money(MAX_AMOUNT)}."]}
        )
    if total <= 0:
        raise RuleValidationError({"lines": ["Ensure the order total is more than 0.00."]})
    return lines


def lock_confirmed(order_id: uuid.UUID, scope: uuid.UUID | None) -> Order:
    """Lock the order if ``scope`` (None: staff) may see it; else ``OrderNotFound``. The
    direction first (inside the write's transaction)."""
    require_writable("orders")
    orders = Order.objects.select_for_update().filter(id=order_id)
    if scope is not None:
        orders = orders.filter(customer_id=scope)
    order = orders.first()
    if order is None:
        raise OrderNotFound(order_id)
    if order.status != OrderStatus.CONFIRMED:
        raise OrderNotConfirmed(order.status)
    return order


def save_order(order: Order, now: datetime, event_type: str) -> None:
    order.version += 1
    order.updated_at = now
    order.save(update_fields=["status", "cancel_reason", "version", "updated_at"])
    record_order_event(order, event_type)
