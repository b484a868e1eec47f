"""What the monolith's orders reconciles: its orders with their lines (by id), read by
monolith.reconcile.source for ``/internal/reconcile/orders/...``."""

from __future__ import annotations

import uuid
from typing import Any

from contracts.reconcile_spec import ORDERS
from contracts.reconcile_sql import Storage
from monolith.orders.models import Order, OrderLine
from monolith.orders.states import order_state
from monolith.reconcile.source import SourceAggregate


def order_states(keys: list[str]) -> list[dict[str, Any]]:
    """The current ``OrderState`` (lines included) of each existing order among ``keys``, by
    id."""
    rows = (
        Order.objects.prefetch_related("lines")
        .filter(id__in=[uuid.UUID(key) for key in keys])
        .order_by("id")
    )
    return [order_state(order) for order in rows]


ORDER_SOURCE = SourceAggregate(
    spec=ORDERS,
    storage=Storage(Order._meta.db_table, child_table=OrderLine._meta.db_table),
    states=order_states,
)
