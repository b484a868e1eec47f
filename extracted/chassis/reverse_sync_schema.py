"""The schema reverse sync needs in a service's database, as Alembic operations each service's
revision calls (inventory ``0004_reverse_sync``, payments and orders ``0005_reverse_sync``):

* ``sync_direction``: the capability's direction (``direction.DirectionColumns``), one
  ``forward`` row;
* ``outbox_events.skipped``: an own-outbox event written while the service was not the source
  (``outbox_relay.SkippedColumn``); every event already there is marked skipped and published,
  since none of them was meant to be sent;
* on PostgreSQL, a statement-level trigger that notifies ``channel`` at each commit inserting
  outbox rows, so the service relay (``sync.service_relay``) wakes instead of polling. Like the
  monolith's outbox trigger, a notification is delivered at commit, never for a rolled-back
  transaction.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op


def _trigger_sql(channel: str) -> str:
    return f"""
CREATE OR REPLACE FUNCTION {channel}_notify() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('{channel}', '');
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER {channel}_notify
    AFTER INSERT ON outbox_events
    FOR EACH STATEMENT EXECUTE FUNCTION {channel}_notify();
"""


def _drop_trigger_sql(channel: str) -> str:
    return f"""
DROP TRIGGER IF EXISTS {channel}_notify ON outbox_events;
DROP FUNCTION IF EXISTS {channel}_notify();
"""


def upgrade(*, capability: str, channel: str) -> None:
    """Create the direction table (``capability`` forward), the ``skipped`` column and (PostgreSQL)
    the trigger notifying ``channel``."""
    direction = op.create_table(
        "sync_direction",
        sa.Column("capability", sa.String(32), primary_key=True),
        sa.Column("direction", sa.String(16), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.bulk_insert(
        direction,
        [{"capability": capability, "direction": "forward", "changed_at": datetime.now(UTC)}],
    )
    with op.batch_alter_table("outbox_events") as batch:
        batch.add_column(
            sa.Column("skipped", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    # Events written before reverse sync existed were never meant to be sent.
    op.execute("UPDATE outbox_events SET skipped = true, published_at = occurred_at")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_trigger_sql(channel))


def downgrade(*, channel: str) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_drop_trigger_sql(channel))
    with op.batch_alter_table("outbox_events") as batch:
        batch.drop_column("skipped")
    op.drop_table("sync_direction")
