"""The event envelope that leaves an outbox and reaches a subscriber.

An envelope carries the *full new state* of one aggregate row and that row's new ``version``, so a
subscriber can apply it as an upsert guarded by compare-and-set on ``version``: redelivery and
reordering are harmless. ``event_type`` is a versioned string:
``<context>.<aggregate>.<what>.v<N>``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

AggregateType = Literal["product", "reservation", "payment", "order"]

#: A business capability (what moves to one service) and the aggregates whose events it owns.
Capability = Literal["inventory", "payments", "orders"]
CAPABILITY_AGGREGATES: dict[Capability, tuple[AggregateType, ...]] = {
    "inventory": ("product", "reservation"),
    "payments": ("payment",),
    "orders": ("order",),
}

#: Where an event was first written; subscribers use it to avoid loops in reverse sync.
Origin = Literal["monolith", "inventory", "payments", "orders"]

PRODUCT_CREATED = "inventory.product.created.v1"
PRODUCT_STOCK_ADJUSTED = "inventory.product.stock_adjusted.v1"
PRODUCT_RESERVED_CHANGED = "inventory.product.reserved_changed.v1"
#: A committed reservation took its quantities out of ``on_hand`` and ``reserved`` together.
PRODUCT_STOCK_COMMITTED = "inventory.product.stock_committed.v1"
RESERVATION_CREATED = "inventory.reservation.created.v1"
RESERVATION_COMMITTED = "inventory.reservation.committed.v1"
RESERVATION_RELEASED = "inventory.reservation.released.v1"
PAYMENT_AUTHORIZED = "payments.payment.authorized.v1"
PAYMENT_DECLINED = "payments.payment.declined.v1"
PAYMENT_CAPTURED = "payments.payment.captured.v1"
PAYMENT_VOIDED = "payments.payment.voided.v1"
PAYMENT_REFUNDED = "payments.payment.refunded.v1"
#: The order's first write: it carries the outcome of checkout (``confirmed`` or ``cancelled``).
ORDER_PLACED = "orders.order.placed.v1"
ORDER_CANCELLED = "orders.order.cancelled.v1"
ORDER_FULFILLED = "orders.order.fulfilled.v1"


class EventEnvelope(BaseModel):
    """One outbox event as it travels through the broker (JSON-serialisable via ``model_dump``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: uuid.UUID
    seq: int = Field(ge=1, description="Outbox sequence number at the origin (monotonic there).")
    aggregate_type: AggregateType
    aggregate_id: str
    event_type: str
    version: int = Field(ge=1, description="The aggregate row's version after this write.")
    occurred_at: datetime = Field(description="Commit time of the write at the origin (UTC).")
    origin: Origin = "monolith"
    payload: dict[str, Any] = Field(
        description="Full new state of the row (see the *State models)."
    )


class ProductState(BaseModel):
    """Payload of every product event and every backfill row for products."""

    model_config = ConfigDict(extra="forbid")

    sku: str
    name: str
    price: str  # decimal as a string with two places, e.g. "12.50"
    on_hand: int
    reserved: int
    version: int
    created_at: datetime
    updated_at: datetime


class ReservationLine(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sku: str
    quantity: int


class ReservationState(BaseModel):
    """Payload of every reservation event and every backfill row for reservations."""

    model_config = ConfigDict(extra="forbid")

    id: uuid.UUID
    order_id: uuid.UUID
    status: Literal["pending", "committed", "released"]
    lines: list[ReservationLine]
    version: int
    created_at: datetime
    updated_at: datetime


class Refund(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: uuid.UUID
    amount: str  # money string with two places
    created_at: datetime


class PaymentState(BaseModel):
    """Payload of every payment event and every backfill row for payments."""

    model_config = ConfigDict(extra="forbid")

    id: uuid.UUID
    customer_id: uuid.UUID
    order_id: uuid.UUID | None
    amount: str  # money string with two places
    status: Literal["authorized", "declined", "captured", "voided", "refunded"]
    captured_amount: str
    refunded_amount: str
    decline_reason: str | None
    gateway_reference: str | None
    refunds: list[Refund]
    version: int
    created_at: datetime
    updated_at: datetime


class OrderLine(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sku: str
    quantity: int
    unit_price: str  # money string with two places: the product's price at checkout
    line_total: str


class OrderState(BaseModel):
    """Payload of every order event and every backfill row for orders."""

    model_config = ConfigDict(extra="forbid")

    id: uuid.UUID
    customer_id: uuid.UUID
    status: Literal["pending", "confirmed", "cancelled", "fulfilled"]
    cancel_reason: str | None
    lines: list[OrderLine]
    total: str
    payment_id: uuid.UUID | None
    reservation_id: uuid.UUID | None
    version: int
    created_at: datetime
    updated_at: datetime
