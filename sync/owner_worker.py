"""A capability's worker, built the same way for each: its Celery app consuming its side's queue,
its event tasks (``sync.event_task``) and its backfill tasks (``sync.backfill_tasks``), every one
applied through the owner's own sync module (``extracted.<capability>.sync``), which the worker's
entry module imports and hands in (so that module alone says which service it may touch)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from types import ModuleType

from celery import Celery

from contracts.events import Capability
from extracted.chassis.sync.dead_letters import TRANSIENT_DB_ERRORS
from sync.backfill_tasks import BackfillTasks, register_backfill_tasks
from sync.celery_app import make_celery
from sync.event_task import EventTasks, register_event_tasks


@dataclass(frozen=True)
class OwnerWorker:
    app: Celery
    event_tasks: EventTasks
    backfill_tasks: BackfillTasks


def owner_worker(capability: Capability, owner: ModuleType, *, copy_aggregate: str) -> OwnerWorker:
    """The worker of ``capability``. ``owner`` is the service's sync module: ``apply_event``,
    ``apply_events`` and ``park_event`` for the events; ``apply_backfill_batch``,
    ``apply_backfill_copy`` (pages of ``copy_aggregate`` as COPY text) and
    ``open_backfill_ranges`` for the backfill."""
    app = make_celery(capability)
    events = register_event_tasks(
        app,
        side=capability,
        apply=owner.apply_event,
        apply_many=owner.apply_events,
        park=owner.park_event,
        transient=TRANSIENT_DB_ERRORS,
        logger=logging.getLogger(f"sync.{capability}_worker"),
    )
    backfill = register_backfill_tasks(
        app,
        capability=capability,
        apply_batch=owner.apply_backfill_batch,
        apply_copy=owner.apply_backfill_copy,
        copy_aggregate=copy_aggregate,
        open_ranges=owner.open_backfill_ranges,
    )
    return OwnerWorker(app, events, backfill)
