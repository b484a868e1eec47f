"""Reverse sync: the orders capability's direction, ``skipped`` own-outbox events, and (PostgreSQL)
a ``NOTIFY orders_outbox`` at each commit that inserts outbox rows, so the service relay
(``python -m sync.service_relay orders``) wakes instead of polling
(``extracted.chassis.reverse_sync_schema``, the same schema as the inventory's).

Revision ID: 0005_reverse_sync
Revises: 0002_sync_subscriber
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

from extracted.chassis import reverse_sync_schema

revision: str = "0005_reverse_sync"
# 0003 and 0004 are other branches' revisions; the merge re-chains this one after them.
down_revision: str | None = "0002_sync_subscriber"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The channel ``sync.service_relay`` listens on (extracted.orders.outbox.NOTIFY_CHANNEL).
CHANNEL = "orders_outbox"


def upgrade() -> None:
    reverse_sync_schema.upgrade(capability="orders", channel=CHANNEL)


def downgrade() -> None:
    reverse_sync_schema.downgrade(channel=CHANNEL)
