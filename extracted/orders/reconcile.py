"""What the orders service reconciles (extracted.chassis.sync.reconcile): its orders with their
lines, repaired through the subscriber's own upsert (``extracted.orders.sync``: an order's lines
are replaced with the source's), and the record of each run."""

from __future__ import annotations

from sqlalchemy import Table

from contracts.events import OrderState
from extracted.chassis.sync.reconcile import OwnedAggregate
from extracted.chassis.sync.reconcile_api import reconcile_router
from extracted.chassis.web.deps import get_sessions
from extracted.orders.models import Order, OrderLine, ReconciliationRun
from extracted.orders.sync import _write_states
from protocol.reconcile_spec import ORDERS

_orders: Table = Order.__table__  # type: ignore[assignment]
_lines: Table = OrderLine.__table__  # type: ignore[assignment]

ORDER_OWNER = OwnedAggregate(
    spec=ORDERS, table=_orders, child_table=_lines, state=OrderState, write=_write_states
)

#: ``/internal/reconcile/orders/...`` (extracted.chassis.sync.reconcile_api).
router = reconcile_router([ORDER_OWNER], ReconciliationRun, get_sessions)
