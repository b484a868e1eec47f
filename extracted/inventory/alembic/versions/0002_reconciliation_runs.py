"""Reconciliation runs: the last drift report, shown by the sync stats.

Revision ID: 0002_reconciliation_runs
Revises: 0001_initial
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_reconciliation_runs"
down_revision: str | None = "0001_initial"
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
