"""Backfill ranges: a job split into key ranges, one checkpoint per range.

A range's checkpoint names its job in ``parent`` and where the range ends in ``end_key``
(inclusive; NULL: to the end). The job's own progress is the sum of its ranges
(``selectors.sync_stats``).

Revision ID: 0005_backfill_ranges
Revises: 0004_reverse_sync
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_backfill_ranges"
down_revision: str | None = "0004_reverse_sync"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("backfill_checkpoints") as table:
        table.add_column(sa.Column("parent", sa.String(200), nullable=True))
        table.add_column(sa.Column("end_key", sa.String(200), nullable=True))
    op.create_index("ix_backfill_checkpoints_parent", "backfill_checkpoints", ["parent"])


def downgrade() -> None:
    op.drop_index("ix_backfill_checkpoints_parent", table_name="backfill_checkpoints")
    with op.batch_alter_table("backfill_checkpoints") as table:
        table.drop_column("end_key")
        table.drop_column("parent")
