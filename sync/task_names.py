"""The task names that cross the seam between the sides (docs/components.md, "Sync"):
``<side>.<task>``, where the side is the worker that consumes it (``sync.celery_app`` routes each
name to its side's queue). Every name comes from ``task_name``.

Tasks are sent by these names, so neither worker imports the other's code.
"""

from __future__ import annotations

from typing import Final, Literal

from contracts.events import CAPABILITY_AGGREGATES, AggregateType, Capability

#: The workers: the monolith's and one per capability (``sync.celery_app`` gives each a queue).
#: Kept here, apart from Celery, so that naming a task (the CLI, the plan) never imports Celery.
Side = Literal["monolith", "inventory", "payments", "orders"]
SIDES: Final[tuple[Side, ...]] = ("monolith", "inventory", "payments", "orders")

Task = Literal[
    # The monolith's worker: a relay pass on demand, a backfill page read, a backfill split.
    "relay_outbox",
    "backfill_page",
    "backfill_split",
    # Every subscriber (each capability's worker, and the monolith's for reverse sync): one event
    # per message (sent by hand, and messages queued before batches) and several (what a relay
    # sends; ``sync.event_batches``).
    "apply_event",
    "apply_events",
    # Each capability's worker (``sync.backfill_tasks``): a keyset page of state dicts, a page as
    # COPY text (protocol.copy_text, the bulk path), and the opening of a split job's ranges.
    "apply_backfill_batch",
    "apply_backfill_copy",
    "open_backfill_ranges",
]


def task_name(side: Side, task: Task) -> str:
    """The name ``side``'s worker registers ``task`` under, and senders send it to."""
    return f"{side}.{task}"


RELAY_OUTBOX: Final = task_name("monolith", "relay_outbox")
BACKFILL_PAGE: Final = task_name("monolith", "backfill_page")
BACKFILL_SPLIT: Final = task_name("monolith", "backfill_split")

#: The capabilities with a subscriber: the relay sends their events to their batch task. A
#: capability missing here has no subscriber: the relay leaves its events pending (not dropped),
#: so a subscriber added later still gets them.
SUBSCRIBERS: Final[tuple[Capability, ...]] = ("inventory", "payments", "orders")

#: Per capability with a subscriber: the batch task the relay sends its events to.
EVENT_BATCH_TASKS: Final[dict[Capability, str]] = {
    capability: task_name(capability, "apply_events") for capability in SUBSCRIBERS
}

#: Where one event of an aggregate is sent by hand: the single-event task of its owner.
EVENT_TASKS: Final[dict[AggregateType, str]] = {
    aggregate: task_name(capability, "apply_event")
    for capability in SUBSCRIBERS
    for aggregate in CAPABILITY_AGGREGATES[capability]
}

#: The aggregates whose events have a subscriber: every capability's.
RELAYED_AGGREGATES: Final = tuple(
    aggregate for capability in SUBSCRIBERS for aggregate in CAPABILITY_AGGREGATES[capability]
)
