"""The task names that cross the seam between the two sides (docs/components.md, "Sync").

Tasks are sent by these names, so neither worker imports the other's code.
"""

from __future__ import annotations

from typing import Final

from contracts.events import CAPABILITY_AGGREGATES, AggregateType, Capability

RELAY_OUTBOX: Final = "monolith.relay_outbox"
BACKFILL_PAGE: Final = "monolith.backfill_page"
#: Split a backfill job into key ranges (the monolith picks the ends from its keys).
BACKFILL_SPLIT: Final = "monolith.backfill_split"
#: Each capability's event tasks, consumed by that capability's worker (its own queue,
#: ``sync.event_task``): one event per message (sent by hand, and messages queued before batches)
#: and several per message (what the relay sends; ``sync.event_batches``).
APPLY_EVENT: Final = "inventory.apply_event"
APPLY_EVENTS: Final = "inventory.apply_events"
PAYMENTS_APPLY_EVENT: Final = "payments.apply_event"
PAYMENTS_APPLY_EVENTS: Final = "payments.apply_events"
ORDERS_APPLY_EVENT: Final = "orders.apply_event"
ORDERS_APPLY_EVENTS: Final = "orders.apply_events"
#: Each capability's backfill tasks, consumed by its worker (``sync.backfill_tasks``): one keyset
#: page of state dicts, and the opening of a split job's key ranges.
APPLY_BACKFILL_BATCH: Final = "inventory.apply_backfill_batch"
PAYMENTS_APPLY_BACKFILL_BATCH: Final = "payments.apply_backfill_batch"
ORDERS_APPLY_BACKFILL_BATCH: Final = "orders.apply_backfill_batch"
#: A page as COPY text (contracts.copy_text), the backfill's bulk path: products, and payments
#: and orders with their child rows.
APPLY_BACKFILL_COPY: Final = "inventory.apply_backfill_copy"
PAYMENTS_APPLY_BACKFILL_COPY: Final = "payments.apply_backfill_copy"
ORDERS_APPLY_BACKFILL_COPY: Final = "orders.apply_backfill_copy"
#: Reverse sync: a service's own events, several per message (what sync.service_relay sends,
#: packed by sync.event_batches), applied by the monolith in one transaction ...
MONOLITH_APPLY_EVENTS: Final = "monolith.apply_events"
#: ... and one per message (sent by hand, and messages queued before batches).
MONOLITH_APPLY_EVENT: Final = "monolith.apply_event"
#: Open the ranges of a split backfill job (one checkpoint each), then start a chain per range.
OPEN_BACKFILL_RANGES: Final = "inventory.open_backfill_ranges"
PAYMENTS_OPEN_BACKFILL_RANGES: Final = "payments.open_backfill_ranges"
ORDERS_OPEN_BACKFILL_RANGES: Final = "orders.open_backfill_ranges"


#: Per capability with a subscriber: the batch task the relay sends its events to. A capability
#: missing here has no subscriber: the relay leaves its events pending (not dropped), so a
#: subscriber added later still gets them.
EVENT_BATCH_TASKS: Final[dict[Capability, str]] = {
    "inventory": APPLY_EVENTS,
    "payments": PAYMENTS_APPLY_EVENTS,
    "orders": ORDERS_APPLY_EVENTS,
}

#: Per capability with a subscriber: its single-event task.
_EVENT_TASK_OF: Final[dict[Capability, str]] = {
    "inventory": APPLY_EVENT,
    "payments": PAYMENTS_APPLY_EVENT,
    "orders": ORDERS_APPLY_EVENT,
}

#: Where one event of an aggregate is sent by hand: the single-event task of its owner.
EVENT_TASKS: Final[dict[AggregateType, str]] = {
    aggregate: task
    for capability, task in _EVENT_TASK_OF.items()
    for aggregate in CAPABILITY_AGGREGATES[capability]
}

#: The aggregates whose events have a subscriber (one of EVENT_BATCH_TASKS): every capability's.
RELAYED_AGGREGATES: Final = tuple(
    aggregate for capability in EVENT_BATCH_TASKS for aggregate in CAPABILITY_AGGREGATES[capability]
)

#: Per capability: where the monolith sends a backfill page of its aggregates (state dicts) ...
BACKFILL_BATCH_TASKS: Final[dict[Capability, str]] = {
    "inventory": APPLY_BACKFILL_BATCH,
    "payments": PAYMENTS_APPLY_BACKFILL_BATCH,
    "orders": ORDERS_APPLY_BACKFILL_BATCH,
}

#: ... a page as COPY text (the bulk path) ...
BACKFILL_COPY_TASKS: Final[dict[Capability, str]] = {
    "inventory": APPLY_BACKFILL_COPY,
    "payments": PAYMENTS_APPLY_BACKFILL_COPY,
    "orders": ORDERS_APPLY_BACKFILL_COPY,
}

#: ... and where it asks for a split job's ranges to be opened.
OPEN_BACKFILL_RANGES_TASKS: Final[dict[Capability, str]] = {
    "inventory": OPEN_BACKFILL_RANGES,
    "payments": PAYMENTS_OPEN_BACKFILL_RANGES,
    "orders": ORDERS_OPEN_BACKFILL_RANGES,
}
