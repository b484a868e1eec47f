"""Initial schema: orders + lines, sagas, idempotency keys, outbox.

sku columns get the byte-order collation per dialect: ``COLLATE "C"`` on PostgreSQL; SQLite's
default ``BINARY`` already is. Money is ``numeric(12, 2)`` on PostgreSQL and text on SQLite
(``extracted.chassis.db_types.ExactDecimal``).

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
    return sa.Numeric(12, 2) if _postgres() else sa.String(14)


def _ts() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _seq() -> sa.types.TypeEngine[int]:
    return sa.BigInteger() if _postgres() else sa.Integer()


def upgrade() -> None:
    op.create_table(
        "idempotency_keys",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("principal", sa.Uuid(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("body", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("principal", "key", name="idempotency_keys_unique"),
    )
    op.create_table(
        "orders",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("cancel_reason", sa.String(length=64), nullable=True),
        sa.Column("total", _money(), nullable=False),
        sa.Column("payment_id", sa.Uuid(), nullable=True),
        sa.Column("reservation_id", sa.Uuid(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("updated_at", _ts(), nullable=False),
        sa.CheckConstraint(
            "(status = 'cancelled' AND cancel_reason IS NOT NULL) OR (status != 'cancelled' AND cancel_reason IS NULL)",
            name="order_cancel_reason_iff_cancelled",
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'confirmed', 'cancelled', 'fulfilled')",
            name="order_status_known",
        ),
        sa.CheckConstraint("total > 0", name="order_total_gt_0"),
        sa.CheckConstraint("version >= 1", name="order_version_gte_1"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "order_customer_idx", "orders", ["customer_id", "created_at", "id"], unique=False
    )
    op.create_index("order_newest_idx", "orders", ["created_at", "id"], unique=False)
    op.create_index("order_status_idx", "orders", ["status", "created_at", "id"], unique=False)
    op.create_table(
        "outbox_events",
        sa.Column("seq", _seq(), autoincrement=True, nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("aggregate_type", sa.String(length=32), nullable=False),
        sa.Column("aggregate_id", sa.String(length=200), nullable=False),
        sa.Column("event_type", sa.String(length=100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("occurred_at", _ts(), nullable=False),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("published_at", _ts(), nullable=True),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("event_id"),
    )
    op.create_index("outbox_events_pending", "outbox_events", ["published_at", "seq"], unique=False)
    op.create_table(
        "sagas",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("terminal", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("lines", sa.JSON(), nullable=False),
        sa.Column("total", _money(), nullable=False),
        sa.Column("card_token", sa.String(length=100), nullable=True),
        sa.Column("reservation_id", sa.Uuid(), nullable=True),
        sa.Column("reservation_outcome", sa.String(length=16), nullable=False),
        sa.Column("payment_id", sa.Uuid(), nullable=True),
        sa.Column("payment_outcome", sa.String(length=16), nullable=False),
        sa.Column("failure", sa.String(length=64), nullable=True),
        sa.Column("failure_detail", sa.JSON(), nullable=True),
        sa.Column("by_staff", sa.Boolean(), nullable=False),
        sa.Column("idempotency_key_id", sa.Uuid(), nullable=True),
        sa.Column("trace_id", sa.String(length=32), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("stuck", sa.Boolean(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("next_attempt_at", _ts(), nullable=False),
        sa.Column("lease_until", _ts(), nullable=True),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("updated_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("sagas_active", "sagas", ["terminal", "next_attempt_at"], unique=False)
    op.create_index("sagas_order", "sagas", ["order_id"], unique=False)
    op.create_table(
        "order_lines",
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("sku", _sku(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("unit_price", _money(), nullable=False),
        sa.Column("line_total", _money(), nullable=False),
        sa.CheckConstraint("quantity >= 1", name="order_line_qty_gte_1"),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("order_id", "sku"),
    )


def downgrade() -> None:
    op.drop_table("order_lines")
    op.drop_index("sagas_order", table_name="sagas")
    op.drop_index("sagas_active", table_name="sagas")
    op.drop_table("sagas")
    op.drop_index("outbox_events_pending", table_name="outbox_events")
    op.drop_table("outbox_events")
    op.drop_index("order_status_idx", table_name="orders")
    op.drop_index("order_newest_idx", table_name="orders")
    op.drop_index("order_customer_idx", table_name="orders")
    op.drop_table("orders")
    op.drop_table("idempotency_keys")
