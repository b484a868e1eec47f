"""The event task every subscriber side registers (``sync.inventory_worker``,
``sync.payments_worker``, ``sync.orders_worker``): one definition, bound to the owner's apply and
park functions, so the three sides retry and dead-letter alike. It imports no service: each worker
hands in its own service's functions.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from celery import Celery

from extracted.chassis.dead_letters import TRANSIENT_DB_ERRORS
from sync.celery_app import transient_retry


def register_apply_event(
    app: Celery,
    name: str,
    *,
    apply: Callable[[Any], str],
    park: Callable[[Any, BaseException], int],
    logger: logging.Logger,
) -> Any:
    """Register task ``name`` on ``app``: apply one outbox event through the owner's ``apply``
    (dedup by event id, compare-and-set on version).

    A transient database error propagates and is retried (``transient_retry``). Any other
    failure (the envelope does not fit the contract, applying it breaks a constraint) cannot be
    fixed by retrying: the event is parked as a dead letter with the error (``park``), and the
    queue moves on (`strangler sync dead-letters` lists and replays them).
    """

    @app.task(name=name, **transient_retry(*TRANSIENT_DB_ERRORS))
    def apply_event(envelope: Any) -> str:
        try:
            outcome: str = apply(envelope)
        except TRANSIENT_DB_ERRORS:
            raise
        except Exception as err:
            event_id = envelope.get("event_id") if isinstance(envelope, dict) else None
            letter = park(envelope, err)
            logger.error("poison event %s parked as dead letter %d: %s", event_id, letter, err)
            return "dead-lettered"
        logger.debug("event %s: %s", envelope.get("event_id"), outcome)
        return outcome

    return apply_event
