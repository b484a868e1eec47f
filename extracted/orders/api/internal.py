"""Internal endpoints (not routed by the proxy): stuck sagas, the saga's upstreams (for the
direction switch) and the Prometheus metrics."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from starlette.responses import Response

from contracts.direction import WriteUpstreams
from extracted.chassis.sync.token import internal_router
from extracted.chassis.timefmt import format_timestamp
from extracted.chassis.web.deps import Sessions
from extracted.chassis.web.responses import ContractJSONResponse
from extracted.orders import selectors
from extracted.orders.models import Saga
from extracted.orders.recovery import saga_counts

# Reads only; any other method added here needs the sync token (extracted.chassis.sync.token).
router = internal_router()


def saga_body(saga: Saga) -> dict[str, Any]:
    return {
        "id": str(saga.id),
        "kind": saga.kind,
        "order_id": str(saga.order_id),
        "state": saga.state,
        "failure": saga.failure,
        "reservation_id": None if saga.reservation_id is None else str(saga.reservation_id),
        "reservation_outcome": saga.reservation_outcome,
        "payment_id": None if saga.payment_id is None else str(saga.payment_id),
        "payment_outcome": saga.payment_outcome,
        "attempts": saga.attempts,
        "last_error": saga.last_error,
        "next_attempt_at": format_timestamp(saga.next_attempt_at),
        "created_at": format_timestamp(saga.created_at),
        "updated_at": format_timestamp(saga.updated_at),
    }


@router.get("/internal/sagas/stuck")
def sagas_stuck(sessions: Sessions) -> ContractJSONResponse:
    """Sagas whose compensation keeps failing (still retried): what an operator must look at."""
    with sessions() as session:
        stuck = [saga_body(saga) for saga in selectors.stuck_sagas(session)]
    return ContractJSONResponse({"count": len(stuck), "results": stuck})


@router.get("/internal/sync/upstreams")
def sync_upstreams(request: Request) -> ContractJSONResponse:
    """Where the saga reserves and pays (the façade, ``STRANGLER_FACADE_URL``, unless
    ``ORDERS_INVENTORY_URL`` / ``ORDERS_PAYMENTS_URL`` override it): the switch to ``reverse``
    checks that each follows its capability's writes (sync.control.direction)."""
    settings = request.app.state.settings
    upstreams = {name: settings.upstream_url(name) for name in ("inventory", "payments")}
    return ContractJSONResponse(WriteUpstreams(upstreams=upstreams).model_dump(mode="json"))


@router.get("/metrics")
def metrics(request: Request, sessions: Sessions) -> Response:
    state = request.app.state
    payload = state.metrics.render(counts=lambda: saga_counts(sessions), breakers=state.breakers)
    return Response(payload, media_type="text/plain; version=0.0.4; charset=utf-8")
