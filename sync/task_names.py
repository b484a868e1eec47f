"""The task names that cross the seam between the two sides (docs/components.md, "Sync").

Tasks are sent by these names, so neither worker imports the other's code.
"""

from __future__ import annotations

from typing import Final

from contracts.events import CAPABILITY_AGGREGATES, Capability

RELAY_OUTBOX: Final = "monolith.relay_outbox"
BACKFILL_PAGE: Final = "monolith.backfill_page"
APPLY_EVENT: Final = "inventory.apply_event"
#: Several inventory events in one message (what the relay sends; ``sync.event_batches``).
APPLY_EVENTS: Final = "inventory.apply_events"
APPLY_BACKFILL_BATCH: Final = "inventory.apply_backfill_batch"
#: A products page as COPY text (contracts.copy_text), the backfill's bulk path.
APPLY_BACKFILL_COPY: Final = "inventory.apply_backfill_copy"


#: Per capability with a subscriber: the batch task its events are relayed to. A capability
#: missing here has no subscriber yet: the relay leaves its events pending (not dropped), so a
#: subscriber added later still gets them.
EVENT_BATCH_TASKS: Final[dict[Capability, str]] = {"inventory": APPLY_EVENTS}

#: The aggregates whose events have a subscriber (one of EVENT_BATCH_TASKS).
RELAYED_AGGREGATES: Final = tuple(
    aggregate for capability in EVENT_BATCH_TASKS for aggregate in CAPABILITY_AGGREGATES[capability]
)
