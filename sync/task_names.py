"""The task names that cross the seam between the two sides (docs/components.md, "Sync").

Tasks are sent by these names, so neither worker imports the other's code.
"""

from __future__ import annotations

from typing import Final

from contracts.events import CAPABILITY_AGGREGATES, AggregateType

RELAY_OUTBOX: Final = "monolith.relay_outbox"
BACKFILL_PAGE: Final = "monolith.backfill_page"
#: Each capability's event task, consumed by that capability's worker (its own queue).
APPLY_EVENT: Final = "inventory.apply_event"
PAYMENTS_APPLY_EVENT: Final = "payments.apply_event"
ORDERS_APPLY_EVENT: Final = "orders.apply_event"
APPLY_BACKFILL_BATCH: Final = "inventory.apply_backfill_batch"
#: A products page as COPY text (contracts.copy_text), the backfill's bulk path.
APPLY_BACKFILL_COPY: Final = "inventory.apply_backfill_copy"


#: Where the relay sends each aggregate's events: the event task of the capability that owns it.
EVENT_TASKS: Final[dict[AggregateType, str]] = {
    **{aggregate: APPLY_EVENT for aggregate in CAPABILITY_AGGREGATES["inventory"]},
    **{aggregate: PAYMENTS_APPLY_EVENT for aggregate in CAPABILITY_AGGREGATES["payments"]},
    **{aggregate: ORDERS_APPLY_EVENT for aggregate in CAPABILITY_AGGREGATES["orders"]},
}

#: The aggregates whose events have a subscriber: every capability's.
RELAYED_AGGREGATES: Final = tuple(EVENT_TASKS)
