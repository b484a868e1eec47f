"""Dead letters: events sync could not apply, parked with the error and the envelope.

Revision ID: 0003_dead_letters
Revises: 0002_reconciliation_runs
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_dead_letters"
down_revision: str | None = "0002_reconciliation_runs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.create_table(
        "dead_letters",
        sa.Column(
            "id",
            sa.BigInteger() if postgres else sa.Integer(),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("event_id", sa.String(64), nullable=True),
        sa.Column("envelope", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("parked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_failed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_dead_letters_event_id", "dead_letters", ["event_id"])


def downgrade() -> None:
    op.drop_index("ix_dead_letters_event_id", table_name="dead_letters")
    op.drop_table("dead_letters")
