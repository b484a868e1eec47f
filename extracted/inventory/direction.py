"""The inventory's direction (contracts.direction) in the service's database: every write takes
it first (``guard_write``), the internal API moves it (``extracted.chassis.direction_api``)."""

from __future__ import annotations

from typing import Final

from sqlalchemy.orm import Session

from extracted.chassis import direction
from extracted.inventory.models import SyncDirection

CAPABILITY: Final = "inventory"


def guard_write(session: Session) -> bool:
    """503 while frozen; else whether this write's events are to be sent (the service is the
    source). Holds the direction row ``FOR SHARE`` until the write commits."""
    return direction.lock_for_write(session, SyncDirection, CAPABILITY)


def is_source(session: Session) -> bool:
    """What ``guard_write`` found for the write in progress (taken now if it was not)."""
    found = session.info.get(direction.IS_SOURCE_KEY)
    return guard_write(session) if found is None else bool(found)
