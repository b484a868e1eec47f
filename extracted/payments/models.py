"""The payments database: SQLAlchemy 2 typed mappings (the monolith's payments, idempotency
records and an own outbox).

The money invariants are check constraints on PostgreSQL (``alembic/versions/0001_initial.py``);
SQLite keeps exact decimals as text (``ExactDecimal``), where a comparison would be textual, so
there the services' own checks are the only guard.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    ForeignKey,
    Index,
    Integer,
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

#: ``DecimalField(max_digits=12, decimal_places=2)`` in the monolith.
MONEY_DIGITS = 12
KEY_MAX_LENGTH = 255


def money_type() -> ExactDecimal:
    return ExactDecimal(MONEY_DIGITS, 2)


class Base(DeclarativeBase):
    pass


class Payment(Base):
    __tablename__ = "payments"
    __table_args__ = (
        Index("payments_customer_newest", "customer_id", "created_at", "id"),
        Index("payments_newest", "created_at", "id"),
        Index("payments_order", "order_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    order_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    amount: Mapped[Decimal] = mapped_column(money_type())
    status: Mapped[str] = mapped_column(String(16))
    captured_amount: Mapped[Decimal] = mapped_column(money_type())
    refunded_amount: Mapped[Decimal] = mapped_column(money_type())
    decline_reason: Mapped[str | None] = mapped_column(String(100))
    gateway_reference: Mapped[str | None] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    refunds: Mapped[list[Refund]] = relationship(
        order_by=lambda: [Refund.created_at, Refund.id],
        cascade="all, delete-orphan",
        passive_deletes=True,
        lazy="selectin",
    )

    @property
    def refundable_amount(self) -> Decimal:
        return self.captured_amount - self.refunded_amount


class Refund(Base):
    """A child row of its payment's aggregate (listed oldest first, ties by id)."""

    __tablename__ = "refunds"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    payment_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("payments.id", ondelete="CASCADE"), index=True
    )
    amount: Mapped[Decimal] = mapped_column(money_type())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class IdempotencyRecord(Base):
    """One row per ``(principal, Idempotency-Key)``: the fingerprint of the request that first
    used the key and the answer it got, written in that request's own transaction."""

    __tablename__ = "idempotency_records"
    __table_args__ = (
        UniqueConstraint("principal_id", "key", name="idempotency_key_once"),
        Index("idempotency_created", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    principal_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    key: Mapped[str] = mapped_column(String(KEY_MAX_LENGTH))
    fingerprint: Mapped[str] = mapped_column(String(64))
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(2048))
    status_code: Mapped[int | None] = mapped_column(Integer)
    #: The answer's JSON exactly as first rendered (text, so the replay keeps its key order).
    response_body: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class OutboxEvent(RelayedOutbox, Base):
    """The service's own writes, for the reverse sync (origin "payments"): the service relay
    (``python -m sync.service_relay payments``) sends them to the monolith while the service is the
    source; the ones written while it is not are recorded ``skipped``. Events applied from sync
    are never recorded here, so nothing loops."""

    __tablename__ = "outbox_events"
    __table_args__ = (Index("outbox_events_pending", "published_at", "seq"),)


class ProcessedEvent(ProcessedEventColumns, Base):
    """Every monolith event id the payments subscriber processed once (dedup), with what it did and
    its lag (``extracted.payments.sync``)."""

    __tablename__ = "processed_events"
    __table_args__ = processed_events_indexes()


class BackfillCheckpoint(BackfillCheckpointColumns, Base):
    """Where each backfill job of the monolith's payments (and each range of a split one) stands
    (``extracted.chassis.sync.backfill_checkpoints``); `strangler sync backfill` resumes from it."""

    __tablename__ = "backfill_checkpoints"


class DeadLetter(DeadLetterColumns, Base):
    """Events sync could not apply for a reason retrying cannot fix, parked with the error
    (``extracted.chassis.sync.dead_letters``); `strangler sync dead-letters -c payments` lists and
    replays them."""

    __tablename__ = "dead_letters"


class ReconciliationRun(ReconciliationRunColumns, Base):
    """One finished ``strangler sync reconcile --aggregate payments`` run (``extracted.chassis.
    reconcile``); ``GET /internal/sync/stats`` shows the last one."""

    __tablename__ = "reconciliation_runs"


class SyncDirection(DirectionColumns, Base):
    """Who takes the payments writes (contracts.direction); one row, ``payments``."""

    __tablename__ = "sync_direction"
