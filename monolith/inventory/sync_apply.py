"""Inventory states that reverse sync delivers (the service is the source), written into the
monolith's tables as they are: compare-and-set on ``version`` (an older state never overwrites a
newer; ``reverse_sync.state_rows``), and **no outbox event** (``monolith.outbox`` is not touched
here), so an event applied on this side never travels back. Runs inside the caller's transaction
(``reverse_sync.inbox``)."""

from __future__ import annotations

from decimal import Decimal

from contracts.events import ProductState, ReservationState
from monolith.inventory.models import Product, Reservation, ReservationLine
from monolith.reverse_sync.state_rows import Children, write_if_newer


def product_state_apply(state: ProductState) -> bool:
    """Write ``state`` when it is newer than the monolith's row (or the row is missing);
    whether it was written."""
    fields = {
        "name": state.name,
        "price": Decimal(state.price),
        "on_hand": state.on_hand,
        "reserved": state.reserved,
        "version": state.version,
        "created_at": state.created_at,
        "updated_at": state.updated_at,
    }
    return write_if_newer(Product, state.sku, state.version, fields)


def reservation_state_apply(state: ReservationState) -> bool:
    """Write ``state`` (the reservation and its lines) when it is newer; whether it was."""
    fields = {
        "order_id": state.order_id,
        "status": state.status,
        "version": state.version,
        "created_at": state.created_at,
        "updated_at": state.updated_at,
    }
    merged: dict[str, int] = {}
    for line in state.lines:
        merged[line.sku] = merged.get(line.sku, 0) + line.quantity
    lines = [
        ReservationLine(reservation_id=state.id, product_id=sku, quantity=quantity)
        for sku, quantity in sorted(merged.items())
    ]
    return write_if_newer(
        Reservation,
        state.id,
        state.version,
        fields,
        Children(ReservationLine, "reservation_id", lines),
    )
