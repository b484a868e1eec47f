"""Dead letters of a sync subscriber: events that fail with an error retrying cannot fix (they do
not fit the contract, or applying them breaks a constraint) are parked in the service's own
database, with the error and the whole envelope, so the rest keep flowing; after a fix they are
replayed through the same apply function (so event-id dedup and compare-and-set still hold).

Each service declares its table with ``DeadLetterColumns`` and its own ``Base``, and calls
``park`` / ``replay`` with its apply function. Transient errors (a database away, a lock or pool
timeout: ``TRANSIENT_DB_ERRORS``) are never parked: the worker retries them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Generic, Literal, TypeVar

from sqlalchemy import BigInteger, Integer, String, Text, delete, func, select
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker
from sqlalchemy.types import JSON

from extracted.chassis.db_types import UTCDateTime
from extracted.chassis.timefmt import format_timestamp, utcnow

#: A database restarting, a lost connection, a lock or pool timeout: worth another try, never a
#: dead letter.
TRANSIENT_DB_ERRORS: Final = (OperationalError, InterfaceError, PoolTimeoutError)

#: The error text kept per dead letter (a validation error can be long).
MAX_ERROR_CHARS: Final = 4000


class DeadLetterColumns:
    """Declarative mixin: ``class DeadLetter(DeadLetterColumns, Base): __tablename__ = ...``."""

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    #: The envelope's event id when it has one (a garbled envelope may not).
    event_id: Mapped[str | None] = mapped_column(String(64), index=True)
    envelope: Mapped[Any] = mapped_column(JSON)
    error: Mapped[str] = mapped_column(Text)
    #: Failures of this envelope so far: redeliveries and failed replays add one each.
    attempts: Mapped[int] = mapped_column(Integer)
    parked_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_failed_at: Mapped[datetime] = mapped_column(UTCDateTime)


D = TypeVar("D", bound=DeadLetterColumns)
ApplyEnvelope = Callable[[Any], str]


def error_text(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}"[:MAX_ERROR_CHARS]


def _event_id_of(envelope: Any) -> str | None:
    value = envelope.get("event_id") if isinstance(envelope, dict) else None
    return str(value)[:64] if value is not None else None


def park(sessions: sessionmaker[Session], model: type[D], envelope: Any, err: BaseException) -> int:
    """Park ``envelope`` with ``err`` in one transaction; the dead letter's id. The same event
    parked again (a redelivery) updates its row instead of adding one."""
    event_id = _event_id_of(envelope)
    now = utcnow()
    with sessions.begin() as session:
        existing = None
        if event_id is not None:
            existing = session.scalars(
                select(model).where(model.event_id == event_id).with_for_update()
            ).first()
        if existing is not None:
            existing.error = error_text(err)
            existing.attempts += 1
            existing.last_failed_at = now
            session.flush()
            return existing.id
        letter = model(  # type: ignore[call-arg]  # the mapped subclass takes the columns
            event_id=event_id,
            envelope=envelope,
            error=error_text(err),
            attempts=1,
            parked_at=now,
            last_failed_at=now,
        )
        session.add(letter)
        session.flush()
        return letter.id


def dead_letter_count(session: Session, model: type[D]) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def dead_letter_page(session: Session, model: type[D], *, limit: int = 100) -> Sequence[D]:
    """The oldest ``limit`` dead letters, in the order they were parked."""
    return session.scalars(select(model).order_by(model.id).limit(limit)).all()


def as_dict(letter: DeadLetterColumns) -> dict[str, Any]:
    """The wire shape of one dead letter (``GET /internal/sync/dead-letters``)."""
    return {
        "id": letter.id,
        "event_id": letter.event_id,
        "error": letter.error,
        "attempts": letter.attempts,
        "parked_at": format_timestamp(letter.parked_at),
        "last_failed_at": format_timestamp(letter.last_failed_at),
        "envelope": letter.envelope,
    }


@dataclass(frozen=True)
class ReplayResult:
    id: int
    event_id: str | None
    #: ``replayed``: applied (or recognised as a duplicate / stale) and removed from the table;
    #: ``failed``: it failed again and stays, with the new error.
    result: Literal["replayed", "failed"]
    outcome: str | None = None
    error: str | None = None


def replay(
    sessions: sessionmaker[Session],
    model: type[D],
    apply: ApplyEnvelope,
    *,
    ids: Sequence[int] | None = None,
) -> list[ReplayResult]:
    """Feed dead letters (``ids``, or all when None) to ``apply`` again, oldest first.

    A letter that applies is deleted after ``apply`` committed; should the process die between
    the two, the next replay sees the event as a duplicate (dedup) and deletes it then. A letter
    that fails again keeps its row with the new error. A transient error propagates (the caller
    answers "try later"): it says nothing about the letter.
    """
    with sessions() as session:
        query = select(model.id).order_by(model.id)
        if ids is not None:
            query = query.where(model.id.in_(list(ids)))
        todo = list(session.scalars(query).all())
    results: list[ReplayResult] = []
    for letter_id in todo:
        with sessions() as session:
            letter = session.get(model, letter_id)
            if letter is None:  # replayed by someone else meanwhile
                continue
            envelope, event_id = letter.envelope, letter.event_id
        try:
            outcome = apply(envelope)
        except TRANSIENT_DB_ERRORS:
            raise
        except Exception as err:
            with sessions.begin() as session:
                failed = session.get(model, letter_id)
                if failed is not None:
                    failed.error = error_text(err)
                    failed.attempts += 1
                    failed.last_failed_at = utcnow()
            results.append(ReplayResult(letter_id, event_id, "failed", error=error_text(err)))
            continue
        with sessions.begin() as session:
            session.execute(delete(model).where(model.id == letter_id))
        results.append(ReplayResult(letter_id, event_id, "replayed", outcome=outcome))
    return results


@dataclass(frozen=True)
class SubscriberDeadLetters(Generic[D]):
    """One subscriber's dead letters: its table (``model``), how it applies an envelope in given
    sessions (``apply``, its event applier's), and where its sessions come from by default."""

    model: type[D]
    apply: Callable[[Any, sessionmaker[Session]], str]
    default_sessions: Callable[[], sessionmaker[Session]]

    def park_event(
        self, envelope: Any, err: BaseException, *, sessions: sessionmaker[Session] | None = None
    ) -> int:
        """Park an event the subscriber refused (``park``); the dead letter's id."""
        return park(sessions or self.default_sessions(), self.model, envelope, err)

    def replay_events(
        self, *, ids: Sequence[int] | None = None, sessions: sessionmaker[Session] | None = None
    ) -> list[ReplayResult]:
        """Replay dead letters (``ids``, or all) through the subscriber's ``apply``."""
        chosen = sessions or self.default_sessions()
        return replay(chosen, self.model, lambda envelope: self.apply(envelope, chosen), ids=ids)


__all__ = [
    "TRANSIENT_DB_ERRORS",
    "DeadLetterColumns",
    "ReplayResult",
    "SubscriberDeadLetters",
    "as_dict",
    "dead_letter_count",
    "dead_letter_page",
    "park",
    "replay",
]
