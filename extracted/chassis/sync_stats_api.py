"""``GET /internal/sync/stats`` of a service whose subscriber applies events only (no backfill
jobs, no reconciliation yet: ``backfills`` is empty, ``last_reconciliation`` null). Not routed by
the proxy; `strangler sync status` reads it (the shape of ``sync.stats.SyncStats``). The inventory
service, which has both, builds its own from ``subscriber.event_stats`` too."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Depends
from sqlalchemy.orm import Session, sessionmaker

from extracted.chassis.dead_letters import DeadLetterColumns
from extracted.chassis.responses import ContractJSONResponse
from extracted.chassis.subscriber import ProcessedEventColumns, event_stats


def event_stats_router(
    processed: type[ProcessedEventColumns],
    dead: type[DeadLetterColumns],
    get_sessions: Callable[..., sessionmaker[Session]],
) -> APIRouter:
    router = APIRouter(prefix="/internal")
    # A default, not an Annotated alias: see dead_letter_api.dead_letter_router.
    sessions_dependency = Depends(get_sessions)

    @router.api_route("/sync/stats", methods=["GET", "HEAD"])
    def sync_stats(sessions: sessionmaker[Session] = sessions_dependency) -> ContractJSONResponse:
        with sessions() as session:
            body = event_stats(session, processed, dead)
        return ContractJSONResponse({**body, "backfills": [], "last_reconciliation": None})

    return router
