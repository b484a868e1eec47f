"""Initial schema: payments + refunds, idempotency records, outbox.

The money invariants of the monolith's check constraints hold on PostgreSQL; SQLite stores the
exact decimals as text, where a comparison would be textual, so it gets none.

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

STATUSES = ("authorized", "declined", "captured", "voided", "refunded")


def _postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def _money() -> sa.types.TypeEngine[Any]:
    return sa.Numeric(12, 2) if _postgres() else sa.String(14)


def _ts() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _seq() -> sa.types.TypeEngine[int]:
    return sa.BigInteger() if _postgres() else sa.Integer()


def _money_checks() -> list[sa.CheckConstraint]:
    if not _postgres():
        return []
    return [
        sa.CheckConstraint("amount > 0", name="payments_amount_gt_0"),
        sa.CheckConstraint(
            "captured_amount >= 0 AND captured_amount <= amount",
            name="payments_captured_within_amount",
        ),
        sa.CheckConstraint(
            "refunded_amount >= 0 AND refunded_amount <= captured_amount",
            name="payments_refunded_within_captured",
        ),
        sa.CheckConstraint(
            "status <> 'refunded' OR refunded_amount = captured_amount",
            name="payments_refunded_in_full",
        ),
    ]


def upgrade() -> None:
    statuses = ", ".join(f"'{s}'" for s in STATUSES)
    op.create_table(
        "payments",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("order_id", sa.Uuid(), nullable=True),
        sa.Column("amount", _money(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("captured_amount", _money(), nullable=False),
        sa.Column("refunded_amount", _money(), nullable=False),
        sa.Column("decline_reason", sa.String(100), nullable=True),
        sa.Column("gateway_reference", sa.String(64), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("updated_at", _ts(), nullable=False),
        sa.CheckConstraint(f"status IN ({statuses})", name="payments_status_known"),
        sa.CheckConstraint("version >= 1", name="payments_version_gte_1"),
        *_money_checks(),
    )
    op.create_index("payments_customer_newest", "payments", ["customer_id", "created_at", "id"])
    op.create_index("payments_newest", "payments", ["created_at", "id"])
    op.create_index("payments_order", "payments", ["order_id"])
    op.create_table(
        "refunds",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column(
            "payment_id",
            sa.Uuid(),
            sa.ForeignKey("payments.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("amount", _money(), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        *([sa.CheckConstraint("amount > 0", name="refunds_amount_gt_0")] if _postgres() else []),
    )
    op.create_index("ix_refunds_payment_id", "refunds", ["payment_id"])
    op.create_table(
        "idempotency_records",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("principal_id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("method", sa.String(8), nullable=False),
        sa.Column("path", sa.String(2048), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("response_body", sa.Text(), nullable=True),
        sa.Column("created_at", _ts(), nullable=False),
        sa.UniqueConstraint("principal_id", "key", name="idempotency_key_once"),
    )
    op.create_index("idempotency_created", "idempotency_records", ["created_at"])
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
    op.drop_index("idempotency_created", table_name="idempotency_records")
    op.drop_table("idempotency_records")
    op.drop_index("ix_refunds_payment_id", table_name="refunds")
    op.drop_table("refunds")
    op.drop_index("payments_order", table_name="payments")
    op.drop_index("payments_newest", table_name="payments")
    op.drop_index("payments_customer_newest", table_name="payments")
    op.drop_table("payments")
