"""What the monolith's orders reconciles: its orders with their lines (by id), answered by
monolith.reconcile for ``/internal/reconcile/orders/...``."""

from __future__ import annotations

from monolith.orders.models import Order, OrderLine
from monolith.orders.states import order_state
from monolith.reconcile.source import SourceAggregate, storage_of
from protocol.reconcile_spec import ORDERS

ORDER_SOURCE = SourceAggregate(
    spec=ORDERS,
    storage=storage_of(Order, OrderLine),
    rows=Order.objects.prefetch_related("lines"),
    state=order_state,
)
