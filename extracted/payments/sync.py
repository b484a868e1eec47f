"""What sync delivers to the payments service, applied by the owner: the monolith's payment
events (dedup by event id + compare-and-set on ``version``) and backfill pages (compare-and-set on
the job's checkpoint + upsert by version). The Celery glue is ``sync/payments_worker.py``; the
protocols are the chassis' (``extracted.chassis.sync.subscriber``,
``extracted.chassis.sync.aggregate_pages``), the write is the backfill's
(``extracted.payments.backfill.write_payment_states``; on PostgreSQL a backfill page is COPYed
into staging tables and merged in one statement instead). Nothing here records an own-outbox
event, so applying never emits one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.orm import Session, sessionmaker

from contracts.events import PaymentState
from extracted.chassis.sync.aggregate_pages import AggregatePages
from extracted.chassis.sync.backfill_checkpoints import BatchResult, Checkpoint, CheckpointStore
from extracted.chassis.sync.bulk_merge import AggregateMerge, Children
from extracted.chassis.sync.dead_letters import SubscriberDeadLetters
from extracted.chassis.sync.subscriber import EventApplier, Outcome, SyncInputError
from extracted.payments.backfill import write_payment_states
from extracted.payments.models import BackfillCheckpoint, DeadLetter, ProcessedEvent
from extracted.payments.wiring import default_sessions
from protocol.copy_text import PAYMENT_COPY_COLUMNS, REFUND_COPY_COLUMNS

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
    does; all or nothing (``extracted.chassis.sync.subscriber.EventApplier.apply_many``)."""
    return _EVENTS.apply_many(envelopes, sessions or default_sessions())


#: The backfill's checkpoints (``extracted.chassis.sync.backfill_checkpoints``) on this
#: service's table.
CHECKPOINTS = CheckpointStore(BackfillCheckpoint, default_sessions)
open_backfill_ranges = CHECKPOINTS.open_ranges
backfill_checkpoint = CHECKPOINTS.checkpoint

#: The backfill of the monolith's payments (``extracted.chassis.sync.aggregate_pages``): one keyset
#: page (COPY text, or state dicts), applied if it is its job's next one, in one transaction with
#: the job's checkpoint; on PostgreSQL ``COPY``ed into staging tables and merged in one statement,
#: the refunds of the payments written replaced by the page's; a page that does not fit the contract
#: or that the database refuses raises ``SyncInputError``, nothing of it applied.
BACKFILL: AggregatePages[PaymentState] = AggregatePages(
    checkpoints=CHECKPOINTS,
    events=_EVENTS,
    merge=AggregateMerge(
        "payments",
        PAYMENT_COPY_COLUMNS,
        "id",
        Children("refunds", REFUND_COPY_COLUMNS, key=("id",), parent="payment_id", field="refunds"),
    ),
    plain=write_payment_states,
    what="payments",
)
apply_backfill_batch = BACKFILL.apply_batch
apply_backfill_copy = BACKFILL.apply_copy


#: Events this subscriber refused for a reason retrying cannot fix, parked in its own table
#: (``extracted.chassis.sync.dead_letters``): the worker parks them, the internal API lists and
#: replays them.
DEAD_LETTERS: SubscriberDeadLetters[DeadLetter] = SubscriberDeadLetters(
    DeadLetter, _EVENTS.apply, default_sessions
)
park_event = DEAD_LETTERS.park_event


__all__ = [
    "AGGREGATE_TYPES",
    "DEAD_LETTERS",
    "BatchResult",
    "Checkpoint",
    "Outcome",
    "SyncInputError",
    "apply_backfill_batch",
    "apply_backfill_copy",
    "apply_event",
    "apply_event_in",
    "apply_events",
    "backfill_checkpoint",
    "open_backfill_ranges",
    "park_event",
]
