"""The payments subscriber's dead letters: the chassis pieces bound to this service's table,
sessions and apply function."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from extracted.chassis.sync import dead_letters
from extracted.chassis.sync.dead_letter_api import dead_letter_router
from extracted.payments import sync
from extracted.payments.api.deps import get_sessions
from extracted.payments.database import default_sessions
from extracted.payments.models import DeadLetter


def park_event(
    envelope: Any, err: BaseException, *, sessions: sessionmaker[Session] | None = None
) -> int:
    """Park an event ``sync.apply_event`` refused; the dead letter's id."""
    return dead_letters.park(sessions or default_sessions(), DeadLetter, envelope, err)


def _apply(envelope: Any, sessions: sessionmaker[Session]) -> str:
    return sync.apply_event(envelope, sessions=sessions)


#: ``/internal/sync/dead-letters`` of this service (extracted.chassis.sync.dead_letter_api).
router = dead_letter_router(DeadLetter, _apply, get_sessions)
