"""``/internal/``: not routed by the proxy; the sync statistics for lag and progress."""

from __future__ import annotations

from extracted.chassis.sync.token import internal_router
from extracted.chassis.web.deps import Sessions
from extracted.chassis.web.responses import ContractJSONResponse
from extracted.inventory import selectors

router = internal_router("/internal")


@router.api_route("/sync/stats", methods=["GET", "HEAD"])
def sync_stats(
    sessions: Sessions,
) -> ContractJSONResponse:
    with sessions() as session:
        return ContractJSONResponse(selectors.sync_stats(session))
