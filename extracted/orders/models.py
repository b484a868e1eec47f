"""The orders database: SQLAlchemy 2 typed mappings.

* ``orders`` / ``order_lines``: the contract's order (docs/orders-api.md).
* ``sagas``: one row per checkout or cancel, written *before* each step it takes (saga.py), so a
  process that dies anywhere leaves a row that says what to do next.
* ``idempotency_keys``: the answers of checkouts sent with an ``Idempotency-Key``.
* ``outbox_events``: the service's own order events (origin "orders"), sent back to the
  monolith while the service is the source (reverse sync); ``sync_direction``: its direction.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from extracted.chassis.db_types import ExactDecimal, UTCDateTime
from extracted.chassis.sync.backfill_checkpoints import BackfillCheckpointColumns
from extracted.chassis.sync.dead_letters import DeadLetterColumns
from extracted.chassis.sync.direction import DirectionColumns
from extracted.chassis.sync.outbox_relay import RelayedOutbox
from extracted.chassis.sync.reconcile import ReconciliationRunColumns
from extracted.chassis.sync.subscriber import ProcessedEventColumns, processed_events_indexes

SKU_LENGTH = 64
#: Most lines one order may hold (after repeated skus are merged).
MAX_LINES = 100


def sku_type() -> String:
    """VARCHAR(64) in byte order: ``COLLATE "C"`` on PostgreSQL, default BINARY on SQLite."""
    return String(SKU_LENGTH).with_variant(String(SKU_LENGTH, collation="C"), "postgresql")


class Base(DeclarativeBase):
    pass


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint(
            "status IN ('pending', 'confirmed', 'cancelled', 'fulfilled')",
            name="order_status_known",
        ),
        CheckConstraint(
            "(status = 'cancelled' AND cancel_reason IS NOT NULL)"
            " OR (status != 'cancelled' AND cancel_reason IS NULL)",
            name="order_cancel_reason_iff_cancelled",
        ),
        CheckConstraint("total > 0", name="order_total_gt_0"),
        CheckConstraint("version >= 1", name="order_version_gte_1"),
        Index("order_newest_idx", "created_at", "id"),
        Index("order_customer_idx", "customer_id", "created_at", "id"),
        Index("order_status_idx", "status", "created_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    status: Mapped[str] = mapped_column(String(16))
    cancel_reason: Mapped[str | None] = mapped_column(String(64))
    total: Mapped[Decimal] = mapped_column(ExactDecimal(12, 2))
    payment_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    reservation_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    lines: Mapped[list[OrderLine]] = relationship(
        order_by="OrderLine.sku", cascade="all, delete-orphan", lazy="selectin"
    )


class OrderLine(Base):
    __tablename__ = "order_lines"
    __table_args__ = (CheckConstraint("quantity >= 1", name="order_line_qty_gte_1"),)

    order_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("orders.id", ondelete="CASCADE"), primary_key=True
    )
    sku: Mapped[str] = mapped_column(sku_type(), primary_key=True)
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price: Mapped[Decimal] = mapped_column(ExactDecimal(12, 2))
    line_total: Mapped[Decimal] = mapped_column(ExactDecimal(12, 2))


class Saga(Base):
    """A checkout or a cancel in flight, or its record once it ended (saga.py names the states).

    ``version`` makes every state change a compare-and-set, so two runners of one saga (a request
    and the recovery loop after a lease ran out) never both apply a step's outcome.
    """

    __tablename__ = "sagas"
    __table_args__ = (
        Index("sagas_active", "terminal", "next_attempt_at"),
        Index("sagas_order", "order_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # checkout | cancel
    order_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    state: Mapped[str] = mapped_column(String(32))
    terminal: Mapped[bool] = mapped_column(Boolean, default=False)
    version: Mapped[int] = mapped_column(Integer)
    #: The checkout's request: priced lines [{sku, quantity, unit_price, line_total}], total, card.
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    total: Mapped[Decimal] = mapped_column(ExactDecimal(12, 2))
    card_token: Mapped[str | None] = mapped_column(String(100))
    #: Chosen before the reserve step (the inventory create takes a writer-chosen id).
    reservation_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    #: held | none | unknown: what the reserve step left behind, for the compensation.
    reservation_outcome: Mapped[str] = mapped_column(String(16), default="none")
    payment_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    #: held | none | unknown: what the charge step left behind.
    payment_outcome: Mapped[str] = mapped_column(String(16), default="none")
    #: Why the checkout failed: a cancel reason, or "upstream_unavailable" (no order is kept).
    failure: Mapped[str | None] = mapped_column(String(64))
    #: The body keys of the refusal: shortages, the decline reason.
    failure_detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    #: cancel only: by staff or by the customer.
    by_staff: Mapped[bool] = mapped_column(Boolean, default=False)
    #: The idempotency record to complete with the checkout's answer, if the request had a key.
    idempotency_key_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    trace_id: Mapped[str] = mapped_column(String(32))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    stuck: Mapped[bool] = mapped_column(Boolean, default=False)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class IdempotencyRecord(Base):
    """A checkout's ``Idempotency-Key``: the request's fingerprint and, once known, its answer."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("principal", "key", name="idempotency_keys_unique"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    principal: Mapped[uuid.UUID] = mapped_column(Uuid)
    key: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(Integer)
    body: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class OutboxEvent(RelayedOutbox, Base):
    """The service's own writes, for the reverse sync (origin "orders"): the service relay
    (``python -m sync.service_relay orders``) sends them to the monolith while the service is the
    source; the ones written while it is not are recorded ``skipped``. Events applied from sync
    are never recorded here, so nothing loops."""

    __tablename__ = "outbox_events"
    __table_args__ = (Index("outbox_events_pending", "published_at", "seq"),)


class ProcessedEvent(ProcessedEventColumns, Base):
    """Every monolith event id the orders subscriber processed once (dedup), with what it did and
    its lag (``extracted.orders.sync``)."""

    __tablename__ = "processed_events"
    __table_args__ = processed_events_indexes()


class BackfillCheckpoint(BackfillCheckpointColumns, Base):
    """Where each backfill job of the monolith's orders (and each range of a split one) stands
    (``extracted.chassis.sync.backfill_checkpoints``); `strangler sync backfill` resumes from it."""

    __tablename__ = "backfill_checkpoints"


class DeadLetter(DeadLetterColumns, Base):
    """Events sync could not apply for a reason retrying cannot fix, parked with the error
    (``extracted.chassis.sync.dead_letters``); `strangler sync dead-letters -c orders` lists and
    replays them."""

    __tablename__ = "dead_letters"


class ReconciliationRun(ReconciliationRunColumns, Base):
    """One finished ``strangler sync reconcile --aggregate orders`` run (``extracted.chassis.
    reconcile``); ``GET /internal/sync/stats`` shows the last one."""

    __tablename__ = "reconciliation_runs"


class SyncDirection(DirectionColumns, Base):
    """Who takes the orders writes (contracts.direction); one row, ``orders``."""

    __tablename__ = "sync_direction"
