"""The inventory database: SQLAlchemy 2 typed mappings.

``sku`` columns sort in byte order everywhere: collation ``C`` on PostgreSQL, SQLite's default
``BINARY``. Timestamps keep microseconds and are aware UTC in Python (``UTCDateTime``).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
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
#: Largest stock figure a row holds (PostgreSQL ``integer``, as in the monolith).
MAX_STOCK = 2_147_483_647


def sku_type() -> String:
    """VARCHAR(64) in byte order: ``COLLATE "C"`` on PostgreSQL, default BINARY on SQLite."""
    return String(SKU_LENGTH).with_variant(String(SKU_LENGTH, collation="C"), "postgresql")


class Base(DeclarativeBase):
    pass


class Product(Base):
    __tablename__ = "products"
    __table_args__ = (
        CheckConstraint("on_hand >= 0", name="products_on_hand_non_negative"),
        CheckConstraint("reserved >= 0", name="products_reserved_non_negative"),
        CheckConstraint("reserved <= on_hand", name="products_reserved_within_on_hand"),
    )

    sku: Mapped[str] = mapped_column(sku_type(), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    price: Mapped[Decimal] = mapped_column(ExactDecimal(10, 2))
    on_hand: Mapped[int] = mapped_column(Integer)
    reserved: Mapped[int] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


class Reservation(Base):
    __tablename__ = "reservations"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    order_id: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True)
    status: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    lines: Mapped[list[ReservationLine]] = relationship(
        order_by="ReservationLine.sku",
        cascade="all, delete-orphan",
        passive_deletes=True,
        lazy="selectin",
    )


class ReservationLine(Base):
    """A reserved quantity of one sku. No foreign key to products: synced reservations may
    arrive before the product they name (events of different aggregates are not ordered)."""

    __tablename__ = "reservation_lines"
    __table_args__ = (CheckConstraint("quantity >= 1", name="reservation_lines_quantity_positive"),)

    reservation_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("reservations.id", ondelete="CASCADE"), primary_key=True
    )
    sku: Mapped[str] = mapped_column(sku_type(), primary_key=True)
    quantity: Mapped[int] = mapped_column(Integer)


class ProcessedEvent(ProcessedEventColumns, Base):
    """Every event id sync delivered once (dedup), with what it did and its lag."""

    __tablename__ = "processed_events"
    __table_args__ = processed_events_indexes()


class BackfillCheckpoint(BackfillCheckpointColumns, Base):
    """Where each backfill job (and each range of a split one) stands
    (``extracted.chassis.sync.backfill_checkpoints``)."""

    __tablename__ = "backfill_checkpoints"


class OutboxEvent(RelayedOutbox, Base):
    """The service's own writes, for the reverse sync (origin "inventory"): the service relay
    (``sync.service_relay``) sends them to the monolith while the service is the source; the
    ones written while it is not are recorded ``skipped``. Events applied from sync are never
    recorded here, so nothing loops."""

    __tablename__ = "outbox_events"
    __table_args__ = (Index("outbox_events_pending", "published_at", "seq"),)


class ReconciliationRun(ReconciliationRunColumns, Base):
    """One finished ``strangler sync reconcile`` run of products or reservations
    (``extracted.chassis.sync.reconcile``); ``GET /internal/sync/stats`` shows the last ones."""

    __tablename__ = "reconciliation_runs"


class SyncDirection(DirectionColumns, Base):
    """Who takes the inventory's writes (contracts.direction); one row, ``inventory``."""

    __tablename__ = "sync_direction"


class DeadLetter(DeadLetterColumns, Base):
    """Events sync could not apply for a reason retrying cannot fix, parked with the error
    (``extracted.chassis.sync.dead_letters``); `strangler sync dead-letters` lists and replays
    them."""

    __tablename__ = "dead_letters"
