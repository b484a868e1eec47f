"""The chassis's pieces bound to the inventory service.

* its database sessions (``INVENTORY_DATABASE_URL``, or the embedded SQLite file);
* its capability's direction (every write takes it first; the internal API moves it,
  ``extracted.chassis.sync.direction_api``);
* its Alembic migrations (``python -m extracted.inventory.migrate``, and at start-up unless
  ``INVENTORY_MIGRATE_ON_START=0``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from extracted.chassis.sync.direction import CapabilityWrites
from extracted.chassis.web.db import default_sessions_of, sessions_for
from extracted.chassis.web.migrations import ServiceMigrations
from extracted.inventory.config import InventorySettings
from extracted.inventory.models import SyncDirection

default_sessions = default_sessions_of(lambda: InventorySettings().database_url)

CAPABILITY: Final = "inventory"
WRITES: Final = CapabilityWrites(SyncDirection, CAPABILITY)

MIGRATIONS: Final = ServiceMigrations(
    ini=Path(__file__).resolve().parent / "alembic.ini",
    default_url=lambda: InventorySettings().database_url,
    module="extracted.inventory.migrate",
)

__all__ = ["CAPABILITY", "MIGRATIONS", "WRITES", "default_sessions", "sessions_for"]
