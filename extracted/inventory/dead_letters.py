"""The inventory subscriber's dead letters: the chassis pieces bound to this service's table,
sessions and apply function."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from extracted.chassis.sync import dead_letters
from extracted.chassis.sync.dead_letter_api import dead_letter_router
from extracted.inventory import sync
from extracted.inventory.api.deps import get_sessions
from extracted.inventory.database import default_sessions
from extracted.inventory.models import DeadLetter


def park_event(
    envelope: Any, err: BaseException, *, sessions: sessionmaker[Session] | None = None
) -> int:
    """Park an event ``sync.apply_event`` refused; the dead letter's id."""
    return dead_letters.park(sessions or default_sessions(), DeadLetter, envelope, err)


def _apply(envelope: Any, sessions: sessionmaker[Session]) -> str:
    return sync.apply_event(envelope, sessions=sessions)


def replay_events(
    *, ids: list[int] | None = None, sessions: sessionmaker[Session] | None = None
) -> list[dead_letters.ReplayResult]:
    """Replay dead letters (``ids``, or all) through ``sync.apply_event``."""
    sessions = sessions or default_sessions()
    return dead_letters.replay(
        sessions, DeadLetter, lambda envelope: _apply(envelope, sessions), ids=ids
    )


#: ``/internal/sync/dead-letters`` of this service (extracted.chassis.sync.dead_letter_api).
router = dead_letter_router(DeadLetter, _apply, get_sessions)
