"""Reverse sync: the capability's direction, ``skipped`` own-outbox events, and (PostgreSQL) a
``NOTIFY inventory_outbox`` at each commit that inserts outbox rows, so the service relay wakes
instead of polling (``extracted.chassis.reverse_sync_schema``, shared with payments and orders).

Revision ID: 0004_reverse_sync
Revises: 0003_dead_letters
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

from extracted.chassis import reverse_sync_schema

revision: str = "0004_reverse_sync"
down_revision: str | None = "0003_dead_letters"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The channel ``sync.service_relay`` listens on (extracted.inventory.outbox.NOTIFY_CHANNEL).
CHANNEL = "inventory_outbox"


def upgrade() -> None:
    reverse_sync_schema.upgrade(capability="inventory", channel=CHANNEL)


def downgrade() -> None:
    reverse_sync_schema.downgrade(channel=CHANNEL)
