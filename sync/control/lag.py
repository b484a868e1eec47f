"""The backlog and lag picture, from both sides' stats endpoints.

Backlog is the monolith's view (outbox events not yet handed to the broker, and the age of the
oldest); lag is the service's view (commit-to-applied time of the last applied event). Events
published but not yet processed are in the broker or a worker.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from contracts.events import Capability
from sync.control.stats import OutboxStats, SyncStats, fetch_outbox_stats, fetch_sync_stats


@dataclass(frozen=True)
class SyncPicture:
    outbox: OutboxStats
    sync: SyncStats

    @property
    def backlog(self) -> int:
        """Outbox events the relay has not published yet."""
        return self.outbox.pending

    @property
    def oldest_pending_age_s(self) -> float | None:
        return self.outbox.oldest_pending_age_s

    @property
    def published(self) -> int:
        return self.outbox.total - self.outbox.pending

    @property
    def in_flight(self) -> int:
        """Published events the service has not processed yet (in the broker or a worker).

        An estimate: a redelivered duplicate is not counted as processed, so it can stay above
        zero by the number of duplicates."""
        return max(0, self.published - self.sync.events_processed)

    @property
    def last_lag_s(self) -> float | None:
        return self.sync.last_lag_s

    @property
    def caught_up(self) -> bool:
        return self.backlog == 0 and self.in_flight == 0


def sync_picture(
    monolith_url: str,
    service_url: str,
    *,
    capability: Capability = "inventory",
    client: httpx.Client | None = None,
) -> SyncPicture:
    """Read both endpoints of ``capability`` (the monolith's backlog of its events, its owner's
    subscriber); raises ``sync.control.stats.StatsUnavailable`` when one cannot be read."""
    return SyncPicture(
        outbox=fetch_outbox_stats(monolith_url, capability=capability, client=client),
        sync=fetch_sync_stats(service_url, capability=capability, client=client),
    )
