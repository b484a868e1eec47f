"""Initial schema: products, reservations + lines, processed events, backfill checkpoints, outbox.

sku columns get the byte-order collation per dialect: ``COLLATE "C"`` on PostgreSQL; SQLite's
default ``BINARY`` already is.

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0001_initial"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def _sku() -> sa.String:
    return sa.String(64, collation="C") if _postgres() else sa.String(64)


def _money() -> sa.types.TypeEngine[Any]:
    return sa.Numeric(10, 2) if _postgres() else sa.String(12)


def _ts() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _seq() -> sa.types.TypeEngine[int]:
    return sa.BigInteger() if _postgres() else sa.Integer()


def upgrade() -> None:
    op.create_table(
        "products",
        sa.Column("sku", _sku(), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("price", _money(), nullable=False),
        sa.Column("on_hand", sa.Integer(), nullable=False),
        sa.Column("reserved", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("updated_at", _ts(), nullable=False),
        sa.CheckConstraint("on_hand >= 0", name="products_on_hand_non_negative"),
        sa.CheckConstraint("reserved >= 0", name="products_reserved_non_negative"),
        sa.CheckConstraint("reserved <= on_hand", name="products_reserved_within_on_hand"),
    )
    op.create_table(
        "reservations",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("order_id", sa.Uuid(), nullable=False, unique=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("updated_at", _ts(), nullable=False),
    )
    op.create_table(
        "reservation_lines",
        sa.Column(
            "reservation_id",
            sa.Uuid(),
            sa.ForeignKey("reservations.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("sku", _sku(), primary_key=True),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.CheckConstraint("quantity >= 1", name="reservation_lines_quantity_positive"),
    )
    op.create_table(
        "processed_events",
        sa.Column("event_id", sa.Uuid(), primary_key=True),
        sa.Column("aggregate_type", sa.String(32), nullable=False),
        sa.Column("aggregate_id", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("occurred_at", _ts(), nullable=False),
        sa.Column("applied_at", _ts(), nullable=False),
        sa.Column("lag_s", sa.Float(), nullable=False),
    )
    op.create_index("processed_events_applied_at", "processed_events", ["applied_at"])
    op.create_table(
        "backfill_checkpoints",
        sa.Column("job", sa.String(200), primary_key=True),
        sa.Column("last_key", sa.String(200), nullable=True),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("done", sa.Boolean(), nullable=False),
        sa.Column("updated_at", _ts(), nullable=False),
    )
    op.create_table(
        "outbox_events",
        sa.Column("seq", _seq(), primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.Uuid(), nullable=False, unique=True),
        sa.Column("aggregate_type", sa.String(32), nullable=False),
        sa.Column("aggregate_id", sa.String(200), nullable=False),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("occurred_at", _ts(), nullable=False),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("published_at", _ts(), nullable=True),
    )
    op.create_index("outbox_events_pending", "outbox_events", ["published_at", "seq"])


def downgrade() -> None:
    op.drop_index("outbox_events_pending", table_name="outbox_events")
    op.drop_table("outbox_events")
    op.drop_table("backfill_checkpoints")
    op.drop_index("processed_events_applied_at", table_name="processed_events")
    op.drop_table("processed_events")
    op.drop_table("reservation_lines")
    op.drop_table("reservations")
    op.drop_table("products")
