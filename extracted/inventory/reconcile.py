"""What the inventory service reconciles (extracted.chassis.sync.reconcile): its products and its
reservations with their lines, repaired through the subscriber's own upserts, and the record of
each run in ``reconciliation_runs``."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy.orm import Session

from contracts.events import ProductState, ReservationState
from extracted.chassis.sync import reconcile
from extracted.chassis.sync.reconcile import OwnedAggregate
from extracted.chassis.sync.reconcile_api import reconcile_router
from extracted.chassis.web.deps import get_sessions
from extracted.inventory.models import Product, ReconciliationRun, Reservation, ReservationLine
from extracted.inventory.sync import _write_products, _write_reservations
from protocol.reconcile_spec import PRODUCTS, RESERVATIONS

_products: Table = Product.__table__  # type: ignore[assignment]
_reservations: Table = Reservation.__table__  # type: ignore[assignment]
_lines: Table = ReservationLine.__table__  # type: ignore[assignment]

PRODUCT_OWNER = OwnedAggregate(
    spec=PRODUCTS, table=_products, child_table=None, state=ProductState, write=_write_products
)
RESERVATION_OWNER = OwnedAggregate(
    spec=RESERVATIONS,
    table=_reservations,
    child_table=_lines,
    state=ReservationState,
    write=_write_reservations,
)

#: ``/internal/reconcile/{products,reservations}/...`` (extracted.chassis.sync.reconcile_api).
router = reconcile_router([PRODUCT_OWNER, RESERVATION_OWNER], ReconciliationRun, get_sessions)


def reconciliation_stats(session: Session) -> dict[str, Any]:
    """``last_reconciliation`` and ``reconciliations`` of the sync stats."""
    return reconcile.reconciliation_stats(session, ReconciliationRun)
