"""The monolith's subscriber of reverse sync: ``apply_event`` (task ``monolith.apply_event``,
``sync/monolith_worker.py``).

One transaction per event: claim the event id in the inbox (a second delivery is a
``duplicate``), write the state with compare-and-set on ``version`` (``stale`` when the monolith's
row is as new or newer: processed, nothing written), and nothing else: no outbox event is
recorded, so nothing applied here travels back. Events of the monolith's own origin never come
back here; one that does is refused (a loop is a bug, parked as a dead letter).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from django.db import IntegrityError, transaction
from django.utils import timezone
from pydantic import BaseModel, ValidationError

from contracts.events import EventEnvelope, ProductState, ReservationState
from monolith.inventory.sync_apply import product_state_apply, reservation_state_apply
from monolith.reverse_sync.errors import SyncInputError
from monolith.reverse_sync.models import InboxEvent

Outcome = Literal["applied", "duplicate", "stale"]

_APPLIERS: dict[str, tuple[type[BaseModel], Callable[[Any], bool]]] = {
    "product": (ProductState, product_state_apply),
    "reservation": (ReservationState, reservation_state_apply),
}


def apply_event(envelope: Any) -> Outcome:
    try:
        event = EventEnvelope.model_validate(envelope)
    except ValidationError as exc:
        raise SyncInputError(f"invalid envelope: {exc}") from None
    if event.origin == "monolith":
        raise SyncInputError(f"event {event.event_id} comes from the monolith itself: a loop")
    if event.aggregate_type not in _APPLIERS:
        raise SyncInputError(f"no reverse sync for aggregate_type {event.aggregate_type!r}")
    model, apply = _APPLIERS[event.aggregate_type]
    try:
        state = model.model_validate(event.payload)
    except ValidationError as exc:
        raise SyncInputError(f"invalid {event.aggregate_type} payload: {exc}") from None
    if getattr(state, "version", None) != event.version:
        raise SyncInputError(f"envelope version {event.version} differs from the payload's")
    now = timezone.now()
    with transaction.atomic():
        try:
            with transaction.atomic():  # a savepoint: a second delivery fails only this
                InboxEvent.objects.create(
                    event_id=event.event_id,
                    origin=event.origin,
                    aggregate_type=event.aggregate_type,
                    aggregate_id=event.aggregate_id,
                    version=event.version,
                    outcome="stale",
                    occurred_at=event.occurred_at,
                    applied_at=now,
                    lag_s=(now - event.occurred_at).total_seconds(),
                )
        except IntegrityError:
            return "duplicate"
        if not apply(state):
            return "stale"
        InboxEvent.objects.filter(event_id=event.event_id).update(outcome="applied")
        return "applied"


def processed_event_ids(event_ids: list[Any]) -> set[Any]:
    """Which of ``event_ids`` the inbox holds (the reverse drain's question)."""
    return set(InboxEvent.objects.filter(event_id__in=event_ids).values_list("event_id", flat=True))
