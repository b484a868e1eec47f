"""Reconciliation runs: the drift reports of `strangler sync reconcile --aggregate orders`, the
last one shown by the sync stats (``extracted.chassis.sync.reconcile.ReconciliationRunColumns``).

Revision ID: 0004_reconciliation_runs
Revises: 0003_backfill_checkpoints
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_reconciliation_runs"
down_revision: str | None = "0003_backfill_checkpoints"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.create_table(
        "reconciliation_runs",
        sa.Column(
            "id",
            sa.BigInteger() if postgres else sa.Integer(),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("aggregate", sa.String(32), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("report", sa.JSON(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("reconciliation_runs")
