"""Reads: products and reservations as the API shows them, and the sync statistics."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from extracted.chassis.subscriber import event_stats
from extracted.chassis.timefmt import format_timestamp
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


def _backfill_entry(cp: BackfillCheckpoint) -> dict[str, Any]:
    return {
        "job": cp.job,
        "last_key": cp.last_key,
        "rows": cp.rows,
        "done": cp.done,
        "updated_at": format_timestamp(cp.updated_at),
        "parent": cp.parent,
        "end_key": cp.end_key,
        "ranges": 0,
    }


def _backfills(checkpoints: list[BackfillCheckpoint]) -> list[dict[str, Any]]:
    """Every checkpoint, plus one entry per job split into ranges (``sync.open_backfill_ranges``)
    that sums them: its rows, done when every range is, updated when the latest range was, and
    ``ranges``: how many. So a split job reads like one job (progress bars, the plan's
    ``backfill_done`` gate), and its ranges are listed as well."""
    own = {cp.job for cp in checkpoints if cp.parent is None}
    ranges: dict[str, list[BackfillCheckpoint]] = {}
    for cp in checkpoints:
        if cp.parent is not None and cp.parent not in own:
            ranges.setdefault(cp.parent, []).append(cp)
    entries = [_backfill_entry(cp) for cp in checkpoints]
    for job, parts in ranges.items():
        entries.append(
            {
                "job": job,
                "last_key": None,
                "rows": sum(cp.rows for cp in parts),
                "done": all(cp.done for cp in parts),
                "updated_at": format_timestamp(max(cp.updated_at for cp in parts)),
                "parent": None,
                "end_key": None,
                "ranges": len(parts),
            }
        )
    return sorted(entries, key=lambda entry: str(entry["job"]))


def sync_stats(session: Session) -> dict[str, Any]:
    """The shape of ``GET /internal/sync/stats`` (docs/inventory-api.md)."""
    checkpoints = list(session.scalars(select(BackfillCheckpoint).order_by(BackfillCheckpoint.job)))
    return {
        **event_stats(session, ProcessedEvent, DeadLetter),
        "backfills": _backfills(checkpoints),
        # Written by `strangler sync reconcile` (extracted.inventory.reconcile): the last run
        # (None: never ran) and the last run of each aggregate.
        **reconcile.reconciliation_stats(session),
    }
