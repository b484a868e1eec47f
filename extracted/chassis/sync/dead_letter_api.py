"""``/internal/sync/dead-letters``: list and replay a subscriber's dead letters (not routed by the
proxy; `strangler sync dead-letters` calls it). One router per service, built around its table
and its apply function (``apply(envelope, sessions)``, the request's sessions).

* ``GET ?limit=N`` (1..1000, default 100): ``{"count", "dead_letters": [...]}``, oldest first.
* ``POST /replay`` with ``{"ids": [1, 2]}`` or ``{"all": true}``: ``{"results": [...]}``, one
  per letter, ``replayed`` (applied, duplicate or stale: gone from the table) or ``failed`` (kept,
  with the new error). Unknown ids: 404, nothing replayed. The database away: 503. Needs the
  sync token (``extracted.chassis.sync.token``), as every internal request but a read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from extracted.chassis.sync import dead_letters
from extracted.chassis.sync.token import internal_router
from extracted.chassis.web.errors import ApiError
from extracted.chassis.web.request_body import RequestBody, request_body
from extracted.chassis.web.responses import ContractJSONResponse


class ReplayInput(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    ids: list[int] | None = None
    all: bool = False

    @model_validator(mode="after")
    def _one_of(self) -> ReplayInput:
        if (self.ids is None) == (not self.all):
            raise ValueError('give either "ids" (a non-empty list) or "all": true')
        if self.ids is not None and not self.ids:
            raise ValueError('"ids" must not be empty')
        return self


def dead_letter_router(
    letters: dead_letters.SubscriberDeadLetters[Any],
    get_sessions: Callable[..., sessionmaker[Session]],
) -> APIRouter:
    model = letters.model
    router = internal_router("/internal/sync/dead-letters")
    # A default, not an Annotated alias: annotations are strings here (PEP 563) and FastAPI
    # resolves them in the module, where a local alias does not exist.
    sessions_dependency = Depends(get_sessions)

    @router.api_route("", methods=["GET", "HEAD"])
    def dead_letter_list(
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        sessions: sessionmaker[Session] = sessions_dependency,
    ) -> ContractJSONResponse:
        with sessions() as session:
            count = dead_letters.dead_letter_count(session, model)
            page = dead_letters.dead_letter_page(session, model, limit=limit)
            body: dict[str, Any] = {
                "count": count,
                "dead_letters": [dead_letters.as_dict(letter) for letter in page],
            }
        return ContractJSONResponse(body)

    @router.post("/replay")
    def dead_letter_replay(
        body: Annotated[RequestBody, Depends(request_body)],
        sessions: sessionmaker[Session] = sessions_dependency,
    ) -> ContractJSONResponse:
        try:
            given = ReplayInput.model_validate(body.json())
        except ValidationError as err:
            message = err.errors()[0]["msg"].removeprefix("Value error, ")
            raise ApiError(400, "invalid", message) from None
        if given.ids is not None:
            with sessions() as session:
                known = set(session.scalars(select(model.id).where(model.id.in_(given.ids))))
            missing = sorted(set(given.ids) - known)
            if missing:
                raise ApiError(404, "not_found", f"no dead letter with id {missing}")
        try:
            results = letters.replay_events(ids=given.ids, sessions=sessions)
        except dead_letters.TRANSIENT_DB_ERRORS as err:
            raise ApiError(503, "unavailable", f"the database is unavailable: {err}") from None
        return ContractJSONResponse({"results": [asdict(r) for r in results]})

    return router
