"""Reads: products and reservations as the API shows them, and the sync statistics."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from extracted.chassis.sync.backfill_checkpoints import backfill_entries
from extracted.chassis.sync.subscriber import event_stats
from extracted.inventory import reconcile
from extracted.inventory.models import (
    BackfillCheckpoint,
    DeadLetter,
    ProcessedEvent,
    Product,
    Reservation,
)


def product_exists(session: Session, sku: str) -> bool:
    return session.scalar(select(Product.sku).where(Product.sku == sku)) is not None


def product_get(session: Session, sku: str) -> Product | None:
    return session.get(Product, sku)


def product_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Product)) or 0


def product_page(session: Session, offset: int, limit: int) -> Sequence[Product]:
    """Products in sku byte order (the column's collation)."""
    return session.scalars(select(Product).order_by(Product.sku).offset(offset).limit(limit)).all()


def reservation_get(session: Session, reservation_id: uuid.UUID) -> Reservation | None:
    return session.get(Reservation, reservation_id)


def sync_stats(session: Session) -> dict[str, Any]:
    """The shape of ``GET /internal/sync/stats`` (docs/inventory-api.md)."""
    return {
        **event_stats(session, ProcessedEvent, DeadLetter),
        "backfills": backfill_entries(session, BackfillCheckpoint),
        # Written by `strangler sync reconcile` (extracted.inventory.reconcile): the last run
        # (None: never ran) and the last run of each aggregate.
        **reconcile.reconciliation_stats(session),
    }
