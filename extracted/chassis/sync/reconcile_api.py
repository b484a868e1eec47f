"""``/internal/reconcile/<aggregate>/...`` of a service: range checksums, bounds, rows, repair and
the run record of each aggregate it owns, for ``strangler sync reconcile`` (shapes:
contracts.reconcile). One router per service, built around its aggregates
(``extracted.chassis.sync.reconcile.OwnedAggregate``) and its ``reconciliation_runs`` table. Not
routed by the proxy (it never forwards ``/internal/``). Every one of them is a ``POST``, so every
one needs the sync token (``extracted.chassis.sync.token``; the reads too: each computes over a
whole table). An unknown aggregate is a 404, a bad body a 400 ``invalid`` before anything runs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session, sessionmaker

from contracts.reconcile import (
    BoundsRequest,
    ChecksumsRequest,
    ReconciliationReport,
    RepairRequest,
    RowsRequest,
)
from extracted.chassis.sync import reconcile
from extracted.chassis.sync.reconcile import OwnedAggregate, ReconciliationRunColumns
from extracted.chassis.sync.subscriber import SyncInputError
from extracted.chassis.sync.token import internal_router
from extracted.chassis.web.errors import ApiError
from extracted.chassis.web.request_body import RequestBody, request_body
from extracted.chassis.web.responses import ContractJSONResponse

M = TypeVar("M", bound=BaseModel)
Body = Annotated[RequestBody, Depends(request_body)]


def _invalid(detail: str) -> ApiError:
    return ApiError(400, "invalid", " ".join(detail.split())[:2000])


def _parse(model: type[M], body: RequestBody) -> M:
    try:
        return model.model_validate(body.json())
    except ValidationError as exc:
        raise _invalid(str(exc)) from None


def reconcile_router(
    aggregates: Sequence[OwnedAggregate[Any]],
    runs: type[ReconciliationRunColumns],
    get_sessions: Callable[..., sessionmaker[Session]],
) -> APIRouter:
    router = internal_router("/internal/reconcile/{aggregate}")
    owned = {a.spec.name: a for a in aggregates}
    # A default, not an Annotated alias: see dead_letter_api.dead_letter_router.
    sessions_dependency = Depends(get_sessions)

    def _owned(aggregate: str) -> OwnedAggregate[Any]:
        found = owned.get(aggregate)
        if found is None:
            raise ApiError(404, "not_found", f"No reconciled aggregate {aggregate!r} here.")
        return found

    def _reads(model: type[M], part: str) -> Callable[..., ContractJSONResponse]:
        """The endpoint of one read (``bounds``, ``checksums``, ``rows``)."""

        def read(
            aggregate: str, body: Body, sessions: sessionmaker[Session] = sessions_dependency
        ) -> ContractJSONResponse:
            target = _owned(aggregate)
            request = _parse(model, body)
            try:
                with sessions() as session:
                    answer = getattr(reconcile.answers(session, target), part)(request)
                    return ContractJSONResponse(answer.model_dump())
            except ValueError as exc:  # bounds out of order or outside the range, a bad key
                raise _invalid(str(exc)) from None

        read.__name__ = f"reconcile_{part}"
        return read

    for part, model in (
        ("bounds", BoundsRequest),
        ("checksums", ChecksumsRequest),
        ("rows", RowsRequest),
    ):
        router.add_api_route(f"/{part}", _reads(model, part), methods=["POST"])

    @router.post("/repair")
    def reconcile_repair(
        aggregate: str, body: Body, sessions: sessionmaker[Session] = sessions_dependency
    ) -> ContractJSONResponse:
        target = _owned(aggregate)
        request = _parse(RepairRequest, body)
        try:
            with sessions.begin() as session:
                result = reconcile.repair(session, target, request)
        except SyncInputError as exc:
            raise _invalid(str(exc)) from None
        return ContractJSONResponse(result.model_dump())

    @router.post("/runs")
    def reconcile_record_run(
        aggregate: str, body: Body, sessions: sessionmaker[Session] = sessions_dependency
    ) -> ContractJSONResponse:
        _owned(aggregate)
        report = _parse(ReconciliationReport, body)
        if report.aggregate != aggregate:
            raise _invalid(f"a report of {report.aggregate!r} posted to {aggregate!r}")
        with sessions.begin() as session:
            reconcile.record_run(session, runs, report)
        return ContractJSONResponse({"recorded": True}, status_code=201)

    return router
