"""``/internal/sync/...`` of the monolith (not routed by the proxy; called by
``sync.control.direction`` and `strangler sync dead-letters --owner monolith`). Same shapes as
the services' endpoints (``extracted.chassis.sync.direction_api``,
``extracted.chassis.sync.dead_letter_api``); every one but a read needs the sync token
(``monolith.api.internal.InternalApi``)."""

from __future__ import annotations

from typing import Any, get_args

from drf_spectacular.utils import extend_schema
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator
from rest_framework.request import Request
from rest_framework.response import Response

from contracts.direction import DirectionChange, ProcessedAnswer, ProcessedQuery
from contracts.events import Capability
from monolith.api.internal import InternalApi
from monolith.reverse_sync import dead_letters
from monolith.reverse_sync.direction import direction_get, direction_set
from monolith.reverse_sync.inbox import processed_event_ids


def _refusal(status: int, code: str, detail: str) -> Response:
    return Response({"error": code, "detail": detail}, status=status)


def _invalid(err: ValidationError) -> Response:
    first = err.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    message = str(first["msg"]).removeprefix("Value error, ")
    return _refusal(400, "invalid", f"{where}: {message}" if where else message)


def _unknown_capability(capability: str) -> Response | None:
    if capability in get_args(Capability):
        return None
    return _refusal(404, "not_found", f"No capability {capability!r}.")


class DirectionApi(InternalApi):
    """``GET|PUT /internal/sync/direction/<capability>``."""

    @extend_schema(exclude=True)
    def get(self, request: Request, capability: str) -> Response:
        unknown = _unknown_capability(capability)
        if unknown is not None:
            return unknown
        return Response(direction_get(capability=capability).model_dump(mode="json"))

    @extend_schema(exclude=True)
    def put(self, request: Request, capability: str) -> Response:
        unknown = _unknown_capability(capability)
        if unknown is not None:
            return unknown
        try:
            change = DirectionChange.model_validate(request.data)
        except ValidationError as err:
            return _invalid(err)
        view = direction_set(capability=capability, direction=change.direction)
        return Response(view.model_dump(mode="json"))


class ProcessedApi(InternalApi):
    """``POST /internal/sync/processed``: which of these event ids the inbox lacks."""

    @extend_schema(exclude=True)
    def post(self, request: Request) -> Response:
        try:
            query = ProcessedQuery.model_validate(request.data)
        except ValidationError as err:
            return _invalid(err)
        seen = processed_event_ids(list(query.event_ids))
        answer = ProcessedAnswer(missing=[i for i in query.event_ids if i not in seen])
        return Response(answer.model_dump(mode="json"))


class _ReplayInput(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    ids: list[int] | None = None
    all: bool = False

    @model_validator(mode="after")
    def _one_of(self) -> _ReplayInput:
        if (self.ids is None) == (not self.all):
            raise ValueError('give either "ids" (a non-empty list) or "all": true')
        if self.ids is not None and not self.ids:
            raise ValueError('"ids" must not be empty')
        return self


class DeadLetterListApi(InternalApi):
    """``GET /internal/sync/dead-letters?limit=N`` (1..1000, default 100)."""

    @extend_schema(exclude=True)
    def get(self, request: Request) -> Response:
        raw = request.query_params.get("limit", "100")
        if not raw.isdigit() or not 1 <= int(raw) <= 1000:
            return _refusal(400, "invalid", "limit must be an integer from 1 to 1000")
        count, page = dead_letters.dead_letter_page(limit=int(raw))
        return Response({"count": count, "dead_letters": page})


class DeadLetterReplayApi(InternalApi):
    """``POST /internal/sync/dead-letters/replay`` with ``{"ids": [...]}`` or ``{"all": true}``."""

    @extend_schema(exclude=True)
    def post(self, request: Request) -> Response:
        try:
            given = _ReplayInput.model_validate(request.data)
        except ValidationError as err:
            return _refusal(
                400, "invalid", str(err.errors()[0]["msg"]).removeprefix("Value error, ")
            )
        if given.ids is not None:
            known = set(
                dead_letters.DeadLetter.objects.filter(pk__in=given.ids).values_list(
                    "pk", flat=True
                )
            )
            missing = sorted(set(given.ids) - known)
            if missing:
                return _refusal(404, "not_found", f"no dead letter with id {missing}")
        try:
            results = dead_letters.replay(ids=given.ids)
        except dead_letters.TRANSIENT_DB_ERRORS as err:
            return _refusal(503, "unavailable", f"the database is unavailable: {err}")
        body: list[dict[str, Any]] = [vars(r) | {} for r in results]
        return Response({"results": body})
