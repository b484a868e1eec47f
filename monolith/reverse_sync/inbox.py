"""The monolith's subscriber of reverse sync: ``apply_events`` (task ``monolith.apply_events``,
what the service relay sends: several events per message) and ``apply_event`` (task
``monolith.apply_event``: one event, the fallback for a batch holding a poison event, and the
dead letters' replay), both run by ``sync/monolith_worker.py``.

Per event (``apply_in_transaction``): claim the event id in the inbox (a second delivery is a
``duplicate``), write the state with compare-and-set on ``version`` (``stale`` when the monolith's
row is as new or newer: processed, nothing written), and nothing else: no outbox event is
recorded, so nothing applied here travels back. Events of the monolith's own origin never come
back here; one that does is refused (a loop is a bug, parked as a dead letter).

An event of a **retired** capability (the cord is cut: ``monolith.reverse_sync.direction``) is
``ignored``: nothing is written, not even the inbox row, and nothing is parked, whatever the
envelope holds. None should come (the service records its events ``skipped`` once retired, and
the switch drains the flow before it retires the monolith); one sent by hand or redelivered late
is dropped rather than dead-lettered, since the monolith's tables refuse writes for good.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

from django.db import connection, transaction
from django.utils import timezone
from pydantic import BaseModel, ValidationError

from contracts.events import CAPABILITY_AGGREGATES, EventEnvelope
from monolith.reverse_sync.appliers import state_applier
from monolith.reverse_sync.direction import retired_capabilities
from monolith.reverse_sync.errors import SyncInputError
from monolith.reverse_sync.models import InboxEvent

Outcome = Literal["applied", "duplicate", "stale", "ignored"]

_CAPABILITY_OF: dict[str, str] = {
    aggregate: capability
    for capability, aggregates in CAPABILITY_AGGREGATES.items()
    for aggregate in aggregates
}


def apply_event(envelope: Any) -> Outcome:
    """Apply one event in its own transaction."""
    with transaction.atomic():
        return apply_in_transaction(envelope)


def apply_events(envelopes: Sequence[Any]) -> list[Outcome]:
    """Apply several events in one transaction, each exactly as ``apply_event`` does; their
    outcomes in the order given. All or nothing: when any one raises, nothing is applied (the
    worker then applies them one by one and parks the poison ones, ``sync.event_batches``).

    Why: with one Celery task and one transaction per event, the per-message and per-commit costs
    bound the monolith's worker; a relay batch per task and commit is the forward subscribers'
    shape (``extracted.chassis.sync.subscriber.EventApplier.apply_many``). Envelopes are
    applied in aggregate order (type, id, version), not as received: two batches applied at once
    lock the rows they share in the same order and never deadlock. Versions, not arrival order,
    decide what is newest, so the order is free; a repeat within the batch is a ``duplicate``."""
    order = sorted(range(len(envelopes)), key=lambda i: _lock_order(envelopes[i]))
    outcomes: dict[int, Outcome] = {}
    with transaction.atomic():
        retired = retired_capabilities({c for c in map(_capability_of, envelopes) if c})
        for i in order:
            outcomes[i] = apply_in_transaction(envelopes[i], retired=retired)
    return [outcomes[i] for i in range(len(envelopes))]


def _lock_order(envelope: Any) -> tuple[str, str, int]:
    """Where an envelope sorts in a batch; anything malformed sorts first (and fails there)."""
    if not isinstance(envelope, dict):
        return ("", "", 0)
    version = envelope.get("version")
    return (
        str(envelope.get("aggregate_type", "")),
        str(envelope.get("aggregate_id", "")),
        version if isinstance(version, int) else 0,
    )


def _capability_of(envelope: Any) -> str | None:
    """The capability an envelope's aggregate type belongs to (None: not one we know)."""
    if not isinstance(envelope, dict):
        return None
    return _CAPABILITY_OF.get(str(envelope.get("aggregate_type")))


def apply_in_transaction(envelope: Any, *, retired: set[str] | None = None) -> Outcome:
    """Apply one event inside the caller's transaction (which commits or rolls back it):
    ``ignored`` when its capability is retired (``retired``: those already read in this
    transaction, else read here), ``duplicate`` when its id was seen, ``stale`` when the
    monolith's row is as new or newer (still recorded as processed), else ``applied``. A
    ``SyncInputError`` when the envelope is not one reverse sync applies."""
    capability = _capability_of(envelope)
    if retired is None:
        retired = retired_capabilities({capability} if capability else set())
    if capability in retired:
        return "ignored"
    event, state, apply = _parse(envelope)
    now = timezone.now()
    claimed = _claim(
        {
            "event_id": event.event_id,
            "origin": event.origin,
            "aggregate_type": event.aggregate_type,
            "aggregate_id": event.aggregate_id,
            "version": event.version,
            "outcome": "stale",
            "occurred_at": event.occurred_at,
            "applied_at": now,
            "lag_s": (now - event.occurred_at).total_seconds(),
        }
    )
    if not claimed:
        return "duplicate"
    if not apply(state):
        return "stale"
    InboxEvent.objects.filter(event_id=event.event_id).update(outcome="applied")
    return "applied"


def _claim(values: dict[str, Any]) -> bool:
    """Insert the inbox row unless its event id is there; whether it was inserted.

    ``INSERT ... ON CONFLICT (event_id) DO NOTHING RETURNING`` (PostgreSQL, SQLite 3.35+): a
    concurrent worker claiming the same id waits for the first's transaction and then sees the
    conflict. Our own SQL because Django's ORM has no insert that reports a skipped conflict
    (``bulk_create(ignore_conflicts=True)`` returns nothing); the ORM's way, a savepoint around
    ``create`` catching ``IntegrityError``, costs two more round trips per event, and the event
    apply is the reverse flow's bottleneck."""
    opts = InboxEvent._meta
    quote = connection.ops.quote_name
    by_name = {field.name: field for field in opts.concrete_fields}
    fields = [(by_name[name], value) for name, value in values.items()]
    columns = ", ".join(quote(field.column) for field, _ in fields)
    params = [field.get_db_prep_save(value, connection) for field, value in fields]
    key = quote(opts.pk.column)
    placeholders = ", ".join(["%s"] * len(params))
    sql = (
        f"INSERT INTO {quote(opts.db_table)} ({columns}) VALUES ({placeholders}) "
        f"ON CONFLICT ({key}) DO NOTHING RETURNING {key}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone() is not None


def _parse(envelope: Any) -> tuple[EventEnvelope, BaseModel, Callable[[Any], bool]]:
    """The envelope, its state and the function writing it; ``SyncInputError`` when it does not
    fit the contract or is not reverse sync's."""
    try:
        event = EventEnvelope.model_validate(envelope)
    except ValidationError as exc:
        raise SyncInputError(f"invalid envelope: {exc}") from None
    if event.origin == "monolith":
        raise SyncInputError(f"event {event.event_id} comes from the monolith itself: a loop")
    applier = state_applier(event.aggregate_type)
    if applier is None:
        raise SyncInputError(f"no reverse sync for aggregate_type {event.aggregate_type!r}")
    model, apply = applier
    try:
        state = model.model_validate(event.payload)
    except ValidationError as exc:
        raise SyncInputError(f"invalid {event.aggregate_type} payload: {exc}") from None
    if getattr(state, "version", None) != event.version:
        raise SyncInputError(f"envelope version {event.version} differs from the payload's")
    return event, state, apply


def processed_event_ids(event_ids: list[Any]) -> set[Any]:
    """Which of ``event_ids`` the inbox holds (the reverse drain's question)."""
    return set(InboxEvent.objects.filter(event_id__in=event_ids).values_list("event_id", flat=True))
