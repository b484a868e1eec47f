"""``/internal/sync/...`` endpoints of the direction switch (not routed by the proxy; called by
``sync.control.direction``). One router per service, built around its tables:

* ``GET /internal/sync/direction``: the capability's direction (contracts.direction).
* ``PUT /internal/sync/direction`` with ``{"direction": "forward" | "frozen" | "reverse" |
  "retired"}``: moves it; 409 ``conflict`` for a move the rules forbid (``retired`` only from
  ``reverse``, and never left: ``contracts.direction.change_refusal``).
* ``GET /internal/sync/outbox?limit=N``: the service's own outbox as the reverse drain reads it
  (with ``in_flight``: the writes accepted whose events are still to come, when the service has
  such writes, e.g. the orders saga).
* ``POST /internal/sync/processed`` with ``{"event_ids": [...]}``: which of them this service
  has not processed yet (the forward drain's question).

The ``PUT`` and the ``POST`` need the sync token, as every internal request but a read
(``extracted.chassis.sync.token``: 401 without it or with another one, 403 when the service has
none configured, so nobody can move it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from contracts.direction import (
    TAIL_LIMIT_MAX,
    DirectionChange,
    ProcessedAnswer,
    ProcessedQuery,
)
from extracted.chassis.sync import direction, outbox_relay
from extracted.chassis.sync.token import internal_router
from extracted.chassis.web.errors import ApiError
from extracted.chassis.web.request_body import RequestBody, request_body
from extracted.chassis.web.responses import ContractJSONResponse


def _parsed(model: Any, body: RequestBody) -> Any:
    try:
        return model.model_validate(body.json())
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        detail = f"{where}: {first['msg']}" if where else str(first["msg"])
        raise ApiError(400, "invalid", detail) from None


def direction_router(
    writes: direction.CapabilityWrites,
    *,
    outbox_model: type[outbox_relay.RelayedOutbox],
    processed_model: Any,
    get_sessions: Callable[..., sessionmaker[Session]],
    in_flight: Callable[[Session], int] | None = None,
) -> APIRouter:
    """The router of one service: ``writes`` (its direction table and capability), its own
    outbox, its processed-events table (an ``event_id`` column), and, when its writes may end
    after their request (a saga), ``in_flight`` counting them."""
    capability, direction_model = writes.capability, writes.model
    processed_event_ids = processed_ids_of(processed_model)
    router = internal_router("/internal/sync")
    sessions_dependency = Depends(get_sessions)

    @router.api_route("/direction", methods=["GET", "HEAD"])
    def direction_get(sessions: sessionmaker[Session] = sessions_dependency) -> Any:
        with sessions() as session:
            view = direction.view(session, direction_model, capability)
        return ContractJSONResponse(view.model_dump(mode="json"))

    @router.put("/direction")
    def direction_put(
        body: Annotated[RequestBody, Depends(request_body)],
        sessions: sessionmaker[Session] = sessions_dependency,
    ) -> Any:
        change: DirectionChange = _parsed(DirectionChange, body)
        with sessions.begin() as session:
            view = direction.set_direction(session, direction_model, capability, change.direction)
        return ContractJSONResponse(view.model_dump(mode="json"))

    @router.api_route("/outbox", methods=["GET", "HEAD"])
    def outbox_get(
        limit: Annotated[int, Query(ge=0, le=TAIL_LIMIT_MAX)] = 100,
        sessions: sessionmaker[Session] = sessions_dependency,
    ) -> Any:
        with sessions() as session:
            # In flight first: a write that ends commits its event with its end, so once it is
            # seen ended, the pending count read after it holds that event.
            busy = 0 if in_flight is None else in_flight(session)
            tail = outbox_relay.outbox_tail(session, outbox_model, limit=limit, in_flight=busy)
        return ContractJSONResponse(tail.model_dump(mode="json"))

    @router.post("/processed")
    def processed_post(
        body: Annotated[RequestBody, Depends(request_body)],
        sessions: sessionmaker[Session] = sessions_dependency,
    ) -> Any:
        query: ProcessedQuery = _parsed(ProcessedQuery, body)
        with sessions() as session:
            seen = processed_event_ids(session, list(query.event_ids))
        answer = ProcessedAnswer(missing=[i for i in query.event_ids if i not in seen])
        return ContractJSONResponse(answer.model_dump(mode="json"))

    return router


def processed_ids_of(model: Any) -> Callable[[Session, list[Any]], set[Any]]:
    """``processed_event_ids`` for a processed-events table with an ``event_id`` column."""

    def seen(session: Session, event_ids: list[Any]) -> set[Any]:
        if not event_ids:
            return set()
        return set(session.scalars(select(model.event_id).where(model.event_id.in_(event_ids))))

    return seen
