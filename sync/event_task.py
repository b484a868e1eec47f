"""The event tasks every subscriber side registers (``sync.inventory_worker``,
``sync.payments_worker``, ``sync.orders_worker``, and ``sync.monolith_worker`` for reverse sync):
one definition of the single-event task and of the batch task (what a relay sends), bound to the
owner's apply and park functions and its database's transient errors, so every side retries and
dead-letters alike. It imports no service and no monolith: each worker hands in its own.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from celery import Celery

from sync.celery_app import transient_retry
from sync.event_batches import apply_message
from sync.task_names import Side, task_name


@dataclass(frozen=True)
class EventTasks:
    """The two tasks registered for one capability."""

    apply_event: Any
    apply_events: Any


def register_event_tasks(
    app: Celery,
    *,
    side: Side,
    apply: Callable[[Any], str],
    apply_many: Callable[[list[Any]], Sequence[str]],
    park: Callable[[Any, BaseException], int],
    transient: tuple[type[BaseException], ...],
    logger: logging.Logger,
) -> EventTasks:
    """Register on ``app`` the side's tasks ``<side>.apply_event`` (one outbox event per
    message) and ``<side>.apply_events`` (several: what a relay sends, ``sync.event_batches``),
    both applied through the owner's functions (dedup by event id, compare-and-set on version).

    A transient database error (one of ``transient``) propagates and the message is retried whole
    (``transient_retry``; what an earlier try applied is dropped by dedup). Any other failure
    (the envelope does not fit the contract, applying it breaks a constraint) cannot be fixed by
    retrying: the event is parked as a dead letter with the error (``park``), and the queue
    moves on (`strangler sync dead-letters` lists and replays them). A batch with a poison
    envelope is applied again one envelope at a time, so only the poison ones are parked.
    """

    def apply_one(envelope: Any) -> str:
        try:
            outcome: str = apply(envelope)
        except transient:
            raise
        except Exception as err:
            event_id = envelope.get("event_id") if isinstance(envelope, dict) else None
            letter = park(envelope, err)
            logger.error("poison event %s parked as dead letter %d: %s", event_id, letter, err)
            return "dead-lettered"
        logger.debug("event %s: %s", envelope.get("event_id"), outcome)
        return outcome

    @app.task(name=task_name(side, "apply_event"), **transient_retry(*transient))
    def apply_event(envelope: Any) -> str:
        """One outbox event per message; the relay sends batches (``apply_events``), this stays
        for single events sent by hand and messages already queued."""
        return apply_one(envelope)

    @app.task(name=task_name(side, "apply_events"), **transient_retry(*transient))
    def apply_events(envelopes: Any) -> dict[str, int]:
        """A batch of outbox events: in one transaction, or, when one of them is poison, one by
        one as ``apply_event`` does (``sync.event_batches.apply_message``)."""
        return apply_message(
            envelopes, apply_all=apply_many, apply_one=apply_one, transient=transient
        )

    return EventTasks(apply_event=apply_event, apply_events=apply_events)
