"""The payments backfill's checkpoints: one row per job (``payments``) and per range of a job split
into key ranges (``extracted.chassis.sync.backfill_checkpoints``).

Revision ID: 0003_backfill_checkpoints
Revises: 0002_sync_subscriber
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_backfill_checkpoints"
down_revision: str | None = "0002_sync_subscriber"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "backfill_checkpoints",
        sa.Column("job", sa.String(200), primary_key=True),
        sa.Column("last_key", sa.String(200), nullable=True),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("done", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("parent", sa.String(200), nullable=True),
        sa.Column("end_key", sa.String(200), nullable=True),
    )
    op.create_index("ix_backfill_checkpoints_parent", "backfill_checkpoints", ["parent"])


def downgrade() -> None:
    op.drop_index("ix_backfill_checkpoints_parent", table_name="backfill_checkpoints")
    op.drop_table("backfill_checkpoints")
