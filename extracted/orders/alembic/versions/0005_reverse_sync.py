"""Reverse sync: the orders capability's direction, ``skipped`` own-outbox events, and (PostgreSQL)
a ``NOTIFY orders_outbox`` at each commit that inserts outbox rows, so the service relay
(``python -m sync.service_relay orders``) wakes instead of polling.
The same schema as the inventory's ``0004_reverse_sync``, written out here: a revision is a
frozen snapshot, so it imports no application code that may change later.

Revision ID: 0005_reverse_sync
Revises: 0004_reconciliation_runs
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0005_reverse_sync"
down_revision: str | None = "0004_reconciliation_runs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The channel ``sync.service_relay`` listens on (extracted.orders.outbox.NOTIFY_CHANNEL).
CHANNEL = "orders_outbox"

# Statement level, like the monolith's outbox trigger: one notification per inserting statement,
# delivered at commit (never for a rolled-back transaction).
CREATE_TRIGGER = f"""
CREATE OR REPLACE FUNCTION {CHANNEL}_notify() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('{CHANNEL}', '');
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER {CHANNEL}_notify
    AFTER INSERT ON outbox_events
    FOR EACH STATEMENT EXECUTE FUNCTION {CHANNEL}_notify();
"""

DROP_TRIGGER = f"""
DROP TRIGGER IF EXISTS {CHANNEL}_notify ON outbox_events;
DROP FUNCTION IF EXISTS {CHANNEL}_notify();
"""


def upgrade() -> None:
    direction = op.create_table(
        "sync_direction",
        sa.Column("capability", sa.String(32), primary_key=True),
        sa.Column("direction", sa.String(16), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.bulk_insert(
        direction,
        [{"capability": "orders", "direction": "forward", "changed_at": datetime.now(UTC)}],
    )
    with op.batch_alter_table("outbox_events") as batch:
        batch.add_column(
            sa.Column("skipped", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    # Events written before reverse sync existed were never meant to be sent.
    op.execute("UPDATE outbox_events SET skipped = true, published_at = occurred_at")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(CREATE_TRIGGER)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(DROP_TRIGGER)
    with op.batch_alter_table("outbox_events") as batch:
        batch.drop_column("skipped")
    op.drop_table("sync_direction")
