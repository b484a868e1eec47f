"""The task names that cross the seam between the two sides (docs/components.md, "Sync").

Tasks are sent by these names, so neither worker imports the other's code.
"""

from __future__ import annotations

from typing import Final

from contracts.events import CAPABILITY_AGGREGATES

RELAY_OUTBOX: Final = "monolith.relay_outbox"
BACKFILL_PAGE: Final = "monolith.backfill_page"
APPLY_EVENT: Final = "inventory.apply_event"
APPLY_BACKFILL_BATCH: Final = "inventory.apply_backfill_batch"
#: A products page as COPY text (contracts.copy_text), the backfill's bulk path.
APPLY_BACKFILL_COPY: Final = "inventory.apply_backfill_copy"
#: Reverse sync: a service's own event, applied by the monolith (sync.service_relay sends it).
MONOLITH_APPLY_EVENT: Final = "monolith.apply_event"


#: The aggregates whose events have a subscriber (``APPLY_EVENT``); the relay leaves the others
#: pending until a subscriber for their capability exists.
RELAYED_AGGREGATES: Final = CAPABILITY_AGGREGATES["inventory"]
