"""``/internal/``: not routed by the proxy; the sync statistics for lag and progress."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from sqlalchemy.orm import Session, sessionmaker

from extracted.chassis.sync.token import internal_router
from extracted.chassis.web.responses import ContractJSONResponse
from extracted.inventory import selectors
from extracted.inventory.api.deps import get_sessions

router = internal_router("/internal")


@router.api_route("/sync/stats", methods=["GET", "HEAD"])
def sync_stats(
    sessions: Annotated[sessionmaker[Session], Depends(get_sessions)],
) -> ContractJSONResponse:
    with sessions() as session:
        return ContractJSONResponse(selectors.sync_stats(session))
