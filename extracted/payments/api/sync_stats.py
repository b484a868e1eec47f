"""``GET /internal/sync/stats``: not routed by the proxy; what the payments subscriber processed,
its lag and its dead letters (the shape of ``sync.stats.SyncStats``; no backfill jobs or
reconciliation here yet, so ``backfills`` is empty and ``last_reconciliation`` null)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from sqlalchemy.orm import Session, sessionmaker

from extracted.chassis.responses import ContractJSONResponse
from extracted.chassis.subscriber import event_stats
from extracted.payments.api.deps import get_sessions
from extracted.payments.models import DeadLetter, ProcessedEvent

router = APIRouter(prefix="/internal")


@router.api_route("/sync/stats", methods=["GET", "HEAD"])
def sync_stats(
    sessions: Annotated[sessionmaker[Session], Depends(get_sessions)],
) -> ContractJSONResponse:
    with sessions() as session:
        body = event_stats(session, ProcessedEvent, DeadLetter)
    return ContractJSONResponse({**body, "backfills": [], "last_reconciliation": None})
