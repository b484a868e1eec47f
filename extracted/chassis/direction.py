"""A service's direction per capability (contracts.direction), stored in its own database.

Every write of the service first takes its capability's direction row ``FOR SHARE``
(``lock_for_write``): writes run side by side, but a direction change (``set_direction``, which
takes the row ``FOR UPDATE``) waits until the writes in flight have committed, and the writes
after it see the new direction. So every own-outbox event is recorded knowing exactly whether the
service was the source when it committed. On SQLite the chassis's ``BEGIN IMMEDIATE`` serialises
all writers, which gives the same guarantee.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final, TypeVar

from sqlalchemy import String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from contracts.direction import RETRY_AFTER_S, Direction, DirectionView
from extracted.chassis.db_types import UTCDateTime
from extracted.chassis.errors import ApiError
from extracted.chassis.timefmt import utcnow

#: ``session.info`` key: whether the write in progress records events to be sent (the service
#: is the source), set by ``lock_for_write``.
IS_SOURCE_KEY: Final = "strangler_is_source"


class DirectionColumns:
    """Declarative mixin: ``class SyncDirection(DirectionColumns, Base): __tablename__ = ...``
    (the migration inserts one ``forward`` row per capability the service owns)."""

    capability: Mapped[str] = mapped_column(String(32), primary_key=True)
    direction: Mapped[str] = mapped_column(String(16))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime)


D = TypeVar("D", bound=DirectionColumns)


class CapabilityFrozen(ApiError):
    """503 with ``Retry-After``: the capability's writes are frozen while sync drains."""

    def __init__(self, capability: str) -> None:
        super().__init__(
            503,
            "unavailable",
            f"Writes of {capability} are paused while sync changes direction; retry shortly.",
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )


def _row(session: Session, model: type[D], capability: str, *, lock: str | None) -> D | None:
    query = select(model).where(model.capability == capability)
    if lock == "share":
        query = query.with_for_update(read=True)
    elif lock == "update":
        query = query.with_for_update()
    return session.scalars(query.execution_options(populate_existing=True)).one_or_none()


def _ensured(session: Session, model: type[D], capability: str, *, lock: str | None) -> D:
    """The row, created ``forward`` when missing (a test database emptied after the migration
    inserted it; writes treat a missing row as ``forward`` too)."""
    row = _row(session, model, capability, lock=lock)
    if row is None:
        session.add(model(capability=capability, direction="forward", changed_at=utcnow()))  # type: ignore[call-arg]
        session.flush()
        row = _row(session, model, capability, lock=lock)
        assert row is not None
    return row


def view(session: Session, model: type[D], capability: str) -> DirectionView:
    row = _row(session, model, capability, lock=None)
    if row is None:
        return DirectionView(capability=capability, direction="forward", changed_at=utcnow())
    return DirectionView.model_validate(
        {"capability": row.capability, "direction": row.direction, "changed_at": row.changed_at}
    )


def lock_for_write(session: Session, model: type[D], capability: str) -> bool:
    """Called first by every write of ``capability``: refuses it (503) while frozen; otherwise
    holds the direction row ``FOR SHARE`` until the write commits and returns whether the
    service is the source (its events are then to be sent back to the monolith)."""
    row = _row(session, model, capability, lock="share")
    direction = "forward" if row is None else row.direction
    if direction == "frozen":
        raise CapabilityFrozen(capability)
    is_source = direction == "reverse"
    session.info[IS_SOURCE_KEY] = is_source
    return is_source


def set_direction(
    session: Session, model: type[D], capability: str, direction: Direction
) -> DirectionView:
    """Move the direction (waits for the writes in flight: see the module docstring)."""
    row = _ensured(session, model, capability, lock="update")
    if row.direction != direction:
        row.direction = direction
        row.changed_at = utcnow()
        session.flush()
    return view(session, model, capability)
