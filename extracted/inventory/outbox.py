"""The service's own outbox: one event per row its own writes change (origin "inventory").

Recorded in the same transaction as the write. While the service is the source (direction
``reverse``), the service relay (``sync.service_relay``) sends them to the monolith; written while
it is not, they are recorded ``skipped`` (born published, never sent). ``sync.apply_event`` never
records here, so nothing loops.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.orm import Session

from contracts.events import ProductState, ReservationLine, ReservationState
from extracted.inventory.models import OutboxEvent, Product, Reservation
from extracted.inventory.wiring import WRITES

ORIGIN = "inventory"
#: The channel the outbox trigger notifies at each commit (alembic 0004_reverse_sync).
NOTIFY_CHANNEL = "inventory_outbox"


def product_state(product: Product) -> ProductState:
    return ProductState(
        sku=product.sku,
        name=product.name,
        price=f"{product.price:.2f}",
        on_hand=product.on_hand,
        reserved=product.reserved,
        version=product.version,
        created_at=product.created_at,
        updated_at=product.updated_at,
    )


def reservation_state(reservation: Reservation) -> ReservationState:
    return ReservationState(
        id=reservation.id,
        order_id=reservation.order_id,
        status=reservation.status,  # type: ignore[arg-type]  # the column holds the Literal's values
        lines=[ReservationLine(sku=line.sku, quantity=line.quantity) for line in reservation.lines],
        version=reservation.version,
        created_at=reservation.created_at,
        updated_at=reservation.updated_at,
    )


def record_product(session: Session, product: Product, event_type: str, at: datetime) -> None:
    session.add(
        OutboxEvent(
            event_id=uuid.uuid4(),
            aggregate_type="product",
            aggregate_id=product.sku,
            event_type=event_type,
            version=product.version,
            occurred_at=at,
            origin=ORIGIN,
            payload=product_state(product).model_dump(mode="json"),
            **WRITES.delivery(session, at),
        )
    )


def record_reservation(
    session: Session, reservation: Reservation, event_type: str, at: datetime
) -> None:
    session.add(
        OutboxEvent(
            event_id=uuid.uuid4(),
            aggregate_type="reservation",
            aggregate_id=str(reservation.id),
            event_type=event_type,
            version=reservation.version,
            occurred_at=at,
            origin=ORIGIN,
            payload=reservation_state(reservation).model_dump(mode="json"),
            **WRITES.delivery(session, at),
        )
    )
