"""``GET /internal/sync/stats`` of a service whose subscriber applies events only (no backfill
jobs yet: ``backfills`` is empty), with its reconciliation runs when it has a table of them
(``last_reconciliation``, ``reconciliations``; else null and empty). Not routed by the proxy;
`strangler sync status` reads it (the shape of ``sync.stats.SyncStats``). The inventory service,
which has backfills, builds its own from ``subscriber.event_stats`` too."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Depends
from sqlalchemy.orm import Session, sessionmaker

from extracted.chassis.dead_letters import DeadLetterColumns
from extracted.chassis.reconcile import ReconciliationRunColumns, reconciliation_stats
from extracted.chassis.responses import ContractJSONResponse
from extracted.chassis.subscriber import ProcessedEventColumns, event_stats


def event_stats_router(
    processed: type[ProcessedEventColumns],
    dead: type[DeadLetterColumns],
    get_sessions: Callable[..., sessionmaker[Session]],
    *,
    runs: type[ReconciliationRunColumns] | None = None,
) -> APIRouter:
    router = APIRouter(prefix="/internal")
    # A default, not an Annotated alias: see dead_letter_api.dead_letter_router.
    sessions_dependency = Depends(get_sessions)

    @router.api_route("/sync/stats", methods=["GET", "HEAD"])
    def sync_stats(sessions: sessionmaker[Session] = sessions_dependency) -> ContractJSONResponse:
        with sessions() as session:
            body = event_stats(session, processed, dead)
            reconciled = (
                {"last_reconciliation": None, "reconciliations": {}}
                if runs is None
                else reconciliation_stats(session, runs)
            )
        return ContractJSONResponse({**body, "backfills": [], **reconciled})

    return router
