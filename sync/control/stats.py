"""Both sides' internal stats endpoints, read over HTTP (shapes in docs/inventory-api.md).

The CLI and the backfill starter read where the monolith's outbox and the service's sync stand
from these endpoints only: no process reads a database it does not own.
"""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError

from contracts.events import Capability

TIMEOUT_S = 5.0


class StatsUnavailable(RuntimeError):
    """An endpoint could not be read; ``str(err)`` is one line for the operator."""


class _Stats(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class OutboxStats(_Stats):
    """Monolith ``GET /internal/outbox/stats``."""

    pending: int
    total: int
    oldest_pending_age_s: float | None
    by_aggregate_type: dict[str, int]


class BackfillState(_Stats):
    job: str
    last_key: str | None
    rows: int
    done: bool
    updated_at: datetime
    #: A range of a job split into key ranges: the job's name (its entry sums the ranges).
    parent: str | None = None
    #: Where the range ends (inclusive); None: the last range, or not a range.
    end_key: str | None = None
    #: On a split job's entry: how many ranges it has (0: not split).
    ranges: int = 0


class LastReconciliation(_Stats):
    """A service's summary of one `strangler sync reconcile` run
    (extracted.chassis.sync.reconcile)."""

    aggregate: str
    finished_at: datetime
    clean: bool
    drift: int
    missing: int = 0
    extra: int = 0
    different: int = 0
    repaired: bool = False
    clean_after_repair: bool | None = None

    @property
    def drift_remains(self) -> bool:
        return not self.clean and not self.clean_after_repair

    def describe(self) -> str:
        """One line: ``payments clean at 2026-11-25T23:10:02Z`` or ``... 2 drift ...``."""
        if self.clean:
            state = "clean"
        elif self.clean_after_repair:
            state = f"{self.drift} drift, repaired"
        else:
            state = f"{self.drift} drift"
        when = self.finished_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return f"{self.aggregate} {state} at {when}"


class SyncStats(_Stats):
    """Service ``GET /internal/sync/stats``."""

    events_processed: int
    events_applied: int
    events_skipped: int
    last_lag_s: float | None
    backfills: list[BackfillState]
    #: Events parked because applying them failed for good (`strangler sync dead-letters`).
    dead_letters: int = 0
    #: The service's last reconciliation run, whatever its aggregate; None: never ran.
    last_reconciliation: LastReconciliation | None = None
    #: The last run of each aggregate the service reconciled, by aggregate.
    reconciliations: dict[str, LastReconciliation] = {}

    def backfill(self, job: str) -> BackfillState | None:
        return next((b for b in self.backfills if b.job == job), None)

    def ranges_of(self, job: str) -> list[BackfillState]:
        """The checkpoints of ``job``'s ranges, in key order (none: not split)."""
        parts = [b for b in self.backfills if b.parent == job]
        return sorted(parts, key=lambda b: int(b.job.rsplit("#", 1)[1]))


def _get_json(what: str, url: str, client: httpx.Client | None) -> object:
    try:
        if client is None:
            response = httpx.get(url, timeout=TIMEOUT_S)
        else:
            response = client.get(url, timeout=TIMEOUT_S)
    except httpx.HTTPError as err:
        raise StatsUnavailable(
            f"{what} at {url} is unreachable: {err or type(err).__name__}"
        ) from err
    if response.status_code != 200:
        raise StatsUnavailable(f"{what} at {url} answered {response.status_code}")
    try:
        return response.json()
    except ValueError:
        raise StatsUnavailable(f"{what} at {url} did not answer JSON") from None


def fetch_outbox_stats(
    monolith_url: str, *, capability: Capability = "inventory", client: httpx.Client | None = None
) -> OutboxStats:
    """The monolith's backlog of ``capability``'s events (the ones this sync carries)."""
    url = f"{monolith_url.rstrip('/')}/internal/outbox/stats?capability={capability}"
    data = _get_json("the monolith", url, client)
    try:
        return OutboxStats.model_validate(data)
    except ValidationError:
        raise StatsUnavailable(f"the monolith at {url} answered an unexpected shape") from None


def fetch_sync_stats(
    service_url: str,
    *,
    capability: Capability = "inventory",
    client: httpx.Client | None = None,
) -> SyncStats:
    """The subscriber's side of ``capability``, from the service at ``service_url``."""
    url = f"{service_url.rstrip('/')}/internal/sync/stats"
    what = f"the {capability} service"
    data = _get_json(what, url, client)
    try:
        return SyncStats.model_validate(data)
    except ValidationError:
        raise StatsUnavailable(f"{what} at {url} answered an unexpected shape") from None


def fetch_product_count(monolith_url: str, *, client: httpx.Client | None = None) -> int:
    """How many products the monolith holds (the backfill's total), from its public list."""
    url = f"{monolith_url.rstrip('/')}/api/inventory/products/?page_size=1"
    data = _get_json("the monolith", url, client)
    if not isinstance(data, dict) or not isinstance(data.get("count"), int):
        raise StatsUnavailable(f"the monolith at {url} answered an unexpected shape")
    return int(data["count"])
