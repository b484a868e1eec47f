"""What sync delivers to the payments service, applied by the owner: the monolith's payment
events (dedup by event id + compare-and-set on ``version``). The Celery glue is
``sync/payments_worker.py``; the protocol is the chassis' (``extracted.chassis.subscriber``), the
write is the backfill's (``extracted.payments.backfill.write_payment_states``). Nothing here
records an own-outbox event, so applying never emits one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.orm import Session, sessionmaker

from contracts.events import PaymentState
from extracted.chassis.subscriber import EventApplier, Outcome, SyncInputError
from extracted.payments.backfill import write_payment_states
from extracted.payments.database import default_sessions
from extracted.payments.models import ProcessedEvent

AGGREGATE_TYPES = ("payment",)

_processed: Table = ProcessedEvent.__table__  # type: ignore[assignment]


def _write(session: Session, aggregate_type: str, state: PaymentState) -> bool:
    return write_payment_states(session, [state]) > 0


_EVENTS: EventApplier[PaymentState] = EventApplier(
    processed=_processed, states={"payment": PaymentState}, write=_write
)


def apply_event(
    envelope: dict[str, Any], *, sessions: sessionmaker[Session] | None = None
) -> Outcome:
    """Apply one payment event in one transaction: ``duplicate`` when its id was seen,
    ``stale`` when the stored payment is as new or newer (still recorded as processed), else
    ``applied``. ``SyncInputError`` when it does not fit the contract (nothing applied)."""
    return _EVENTS.apply(envelope, sessions or default_sessions())


def apply_event_in(session: Session, envelope: Any) -> Outcome:
    """``apply_event`` inside the caller's transaction (which commits or rolls back)."""
    return _EVENTS.apply_in(session, envelope)


def apply_events(
    envelopes: Sequence[Any], *, sessions: sessionmaker[Session] | None = None
) -> list[Outcome]:
    """Apply several payment events in one transaction, each exactly as ``apply_event``
    does; all or nothing (``extracted.chassis.subscriber.EventApplier.apply_many``)."""
    return _EVENTS.apply_many(envelopes, sessions or default_sessions())


__all__ = [
    "AGGREGATE_TYPES",
    "Outcome",
    "SyncInputError",
    "apply_event",
    "apply_event_in",
    "apply_events",
]
