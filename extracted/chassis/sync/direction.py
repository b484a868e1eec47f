"""A service's direction per capability (contracts.direction), stored in its own database.

Every write of the service first takes its capability's direction row ``FOR SHARE``
(``lock_for_write``): writes run side by side, but a direction change (``set_direction``, which
takes the row ``FOR UPDATE``) waits until the writes in flight have committed, and the writes
after it see the new direction. So every own-outbox event is recorded knowing exactly whether the
service was the source when it committed. On SQLite the chassis's ``BEGIN IMMEDIATE`` serialises
all writers, which gives the same guarantee.

Each service holds one ``CapabilityWrites`` (its direction table and capability name) and calls
it from its writes and its outbox, so inventory, payments and orders share one rule. A write
that completes one accepted earlier (the orders saga's later steps) is *resumed*
(``resume_write``): not refused while frozen, since the client's request was taken before the
freeze; the service reports such writes as in flight and the drain waits for them
(``outbox_relay.outbox_tail``).

A ``retired`` capability (the cord is cut) takes its writes as ``reverse`` does, but it is not a
source any more: its events are recorded ``skipped`` (born published), so the outbox keeps the
whole history while the service relay has nothing to send and nothing is dead-lettered. The
direction is checked under the row lock, so the cut is exact: a write committed before
``set_direction(..., "retired")`` returned is sent, every later one is not.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final, TypeVar

from sqlalchemy import String, select
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from contracts.direction import RETRY_AFTER_S, Direction, DirectionView, change_refusal
from extracted.chassis.db_types import UTCDateTime
from extracted.chassis.domain_errors import ConflictError, UnavailableError
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


class CapabilityFrozen(UnavailableError):
    """The capability's writes are frozen while sync drains (503 with ``Retry-After``)."""

    def __init__(self, capability: str) -> None:
        super().__init__(
            f"Writes of {capability} are paused while sync changes direction; retry shortly.",
            retry_after_s=RETRY_AFTER_S,
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


def lock_for_write(
    session: Session, model: type[D], capability: str, *, resuming: bool = False
) -> bool:
    """Called first by every write of ``capability``: refuses it (503) while frozen; otherwise
    holds the direction row ``FOR SHARE`` until the write commits and returns whether the
    service is the source (its events are then to be sent back to the monolith).

    ``resuming``: the write completes one accepted earlier, so it is not refused while frozen,
    and frozen counts as the source: the switch freezes a service only on its way back from
    ``reverse``, and the drain waits for such writes before the monolith takes over.

    ``retired``: taken, never the source (module docstring)."""
    row = _row(session, model, capability, lock="share")
    direction = "forward" if row is None else row.direction
    if direction == "frozen" and not resuming:
        raise CapabilityFrozen(capability)
    is_source = direction == "reverse" or (resuming and direction == "frozen")
    session.info[IS_SOURCE_KEY] = is_source
    return is_source


def set_direction(
    session: Session, model: type[D], capability: str, direction: Direction
) -> DirectionView:
    """Move the direction (waits for the writes in flight: see the module docstring);
    ``ConflictError`` (409) for a move ``contracts.direction.change_refusal`` forbids."""
    row = _ensured(session, model, capability, lock="update")
    refusal = change_refusal(row.direction, direction)
    if refusal is not None:
        raise ConflictError(f"Cannot move {capability} to {direction}: {refusal}.")
    if row.direction != direction:
        row.direction = direction
        row.changed_at = utcnow()
        session.flush()
    return view(session, model, capability)


@dataclass(frozen=True)
class CapabilityWrites:
    """One capability of a service as its writes see it: ``WRITES = CapabilityWrites(
    SyncDirection, "payments")`` in the service, called by every write and by its outbox."""

    model: type[DirectionColumns]
    capability: str

    def guard_write(self, session: Session) -> bool:
        """503 while frozen; else whether this write's events are to be sent (the service is
        the source). Holds the direction row ``FOR SHARE`` until the write commits."""
        return lock_for_write(session, self.model, self.capability)

    def resume_write(self, session: Session) -> bool:
        """``guard_write`` for a write completing one accepted earlier (``lock_for_write``)."""
        return lock_for_write(session, self.model, self.capability, resuming=True)

    def is_source(self, session: Session) -> bool:
        """What ``guard_write`` found for the write in progress (taken now if it was not)."""
        found = session.info.get(IS_SOURCE_KEY)
        return self.guard_write(session) if found is None else bool(found)

    def delivery(self, session: Session, at: datetime) -> dict[str, object]:
        """An own-outbox row's delivery columns: pending when the service is the source; else
        ``skipped`` (born published, never sent)."""
        if self.is_source(session):
            return {"skipped": False, "published_at": None}
        return {"skipped": True, "published_at": at}

    def refuse_while_frozen(self, sessions: sessionmaker[Session]) -> None:
        """503 at once while frozen: for a write that calls out (the card gateway, an upstream)
        before its own transaction opens, or that keeps nothing (a dry run), so a frozen
        service refuses it before anything happens anywhere. The write still takes
        ``guard_write`` in its transaction: this is the early answer, not the guarantee."""
        with sessions() as session:
            if view(session, self.model, self.capability).direction == "frozen":
                raise CapabilityFrozen(self.capability)
