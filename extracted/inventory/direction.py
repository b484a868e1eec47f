"""The inventory's direction (contracts.direction) in the service's database: every write takes
it first (``guard_write``), the internal API moves it (``extracted.chassis.sync.direction_api``)."""

from __future__ import annotations

from typing import Final

from extracted.chassis.sync.direction import CapabilityWrites
from extracted.inventory.models import SyncDirection

CAPABILITY: Final = "inventory"
WRITES: Final = CapabilityWrites(SyncDirection, CAPABILITY)

#: 503 while frozen; else whether this write's events are sent back (the service is the source).
guard_write = WRITES.guard_write
