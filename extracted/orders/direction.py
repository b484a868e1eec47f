"""The orders capability's direction (contracts.direction) in the service's database: every write
takes it first (``WRITES.guard_write``), the internal API moves it
(``extracted.chassis.sync.direction_api``)."""

from __future__ import annotations

from typing import Final

from extracted.chassis.sync.direction import CapabilityWrites
from extracted.orders.models import SyncDirection

CAPABILITY: Final = "orders"
WRITES: Final = CapabilityWrites(SyncDirection, CAPABILITY)
