"""The task names that cross the seam between the two sides (docs/components.md, "Sync").

Tasks are sent by these names, so neither worker imports the other's code.
"""

from __future__ import annotations

from typing import Final

from contracts.events import CAPABILITY_AGGREGATES

RELAY_OUTBOX: Final = "monolith.relay_outbox"
BACKFILL_PAGE: Final = "monolith.backfill_page"
#: Split a backfill job into key ranges (the monolith picks the ends from its keys).
BACKFILL_SPLIT: Final = "monolith.backfill_split"
APPLY_EVENT: Final = "inventory.apply_event"
APPLY_BACKFILL_BATCH: Final = "inventory.apply_backfill_batch"
#: A products page as COPY text (contracts.copy_text), the backfill's bulk path.
APPLY_BACKFILL_COPY: Final = "inventory.apply_backfill_copy"
#: Reverse sync: a service's own event, applied by the monolith (sync.service_relay sends it).
MONOLITH_APPLY_EVENT: Final = "monolith.apply_event"
#: Open the ranges of a split backfill job (one checkpoint each), then start a chain per range.
OPEN_BACKFILL_RANGES: Final = "inventory.open_backfill_ranges"


#: The aggregates whose events have a subscriber (``APPLY_EVENT``); the relay leaves the others
#: pending until a subscriber for their capability exists.
RELAYED_AGGREGATES: Final = CAPABILITY_AGGREGATES["inventory"]
