"""``GET /internal/sync/stats`` of a service built from its tables: the events' counters, the
backfill checkpoints (when it has a table of them; else ``backfills`` is empty) and its
reconciliation runs (``last_reconciliation``, ``reconciliations``; else null and empty). Not
routed by the proxy; `strangler sync status` and `strangler sync backfill` read it (the shape of
``sync.control.stats.SyncStats``). The inventory service builds its own from
``subscriber.event_stats``, ``backfill_checkpoints.backfill_entries`` and its reconciliation
stats."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Depends
from sqlalchemy.orm import Session, sessionmaker

from extracted.chassis.sync.backfill_checkpoints import BackfillCheckpointColumns, backfill_entries
from extracted.chassis.sync.dead_letters import DeadLetterColumns
from extracted.chassis.sync.reconcile import ReconciliationRunColumns, reconciliation_stats
from extracted.chassis.sync.subscriber import ProcessedEventColumns, event_stats
from extracted.chassis.sync.token import internal_router
from extracted.chassis.web.responses import ContractJSONResponse


def event_stats_router(
    processed: type[ProcessedEventColumns],
    dead: type[DeadLetterColumns],
    get_sessions: Callable[..., sessionmaker[Session]],
    *,
    runs: type[ReconciliationRunColumns] | None = None,
    checkpoints: type[BackfillCheckpointColumns] | None = None,
) -> APIRouter:
    """``checkpoints``: the service's backfill checkpoint table (None: no backfill, ``[]``)."""
    router = internal_router("/internal")
    # A default, not an Annotated alias: see dead_letter_api.dead_letter_router.
    sessions_dependency = Depends(get_sessions)

    @router.api_route("/sync/stats", methods=["GET", "HEAD"])
    def sync_stats(sessions: sessionmaker[Session] = sessions_dependency) -> ContractJSONResponse:
        with sessions() as session:
            body = event_stats(session, processed, dead)
            backfills = [] if checkpoints is None else backfill_entries(session, checkpoints)
            reconciled = (
                {"last_reconciliation": None, "reconciliations": {}}
                if runs is None
                else reconciliation_stats(session, runs)
            )
        return ContractJSONResponse({**body, "backfills": backfills, **reconciled})

    return router
