"""``/internal/reconcile/products/...``: range checksums, rows, repair and the run record, for
``strangler sync reconcile`` (shapes: contracts.reconcile). Not routed by the proxy."""

from __future__ import annotations

from typing import Annotated, TypeVar

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
from extracted.chassis.errors import ApiError
from extracted.chassis.request_body import RequestBody, request_body
from extracted.chassis.responses import ContractJSONResponse
from extracted.inventory import reconcile
from extracted.inventory.api.deps import get_sessions
from extracted.inventory.sync import SyncInputError

router = APIRouter(prefix="/internal/reconcile/products")

Sessions = Annotated[sessionmaker[Session], Depends(get_sessions)]
Body = Annotated[RequestBody, Depends(request_body)]
M = TypeVar("M", bound=BaseModel)


def _invalid(detail: str) -> ApiError:
    return ApiError(400, "invalid", " ".join(detail.split())[:2000])


def _parse(model: type[M], body: RequestBody) -> M:
    try:
        return model.model_validate(body.json())
    except ValidationError as exc:
        raise _invalid(str(exc)) from None


@router.post("/bounds")
def bounds(sessions: Sessions, body: Body) -> ContractJSONResponse:
    request = _parse(BoundsRequest, body)
    with sessions() as session:
        return ContractJSONResponse(reconcile.bounds(session, request).model_dump())


@router.post("/checksums")
def checksums(sessions: Sessions, body: Body) -> ContractJSONResponse:
    request = _parse(ChecksumsRequest, body)
    try:
        with sessions() as session:
            return ContractJSONResponse(reconcile.checksums(session, request).model_dump())
    except ValueError as exc:  # bounds out of order or outside the range
        raise _invalid(str(exc)) from None


@router.post("/rows")
def rows(sessions: Sessions, body: Body) -> ContractJSONResponse:
    request = _parse(RowsRequest, body)
    with sessions() as session:
        return ContractJSONResponse(reconcile.rows(session, request).model_dump())


@router.post("/repair")
def repair(sessions: Sessions, body: Body) -> ContractJSONResponse:
    request = _parse(RepairRequest, body)
    try:
        with sessions.begin() as session:
            result = reconcile.repair(session, request)
    except SyncInputError as exc:
        raise _invalid(str(exc)) from None
    return ContractJSONResponse(result.model_dump())


@router.post("/runs")
def record_run(sessions: Sessions, body: Body) -> ContractJSONResponse:
    report = _parse(ReconciliationReport, body)
    with sessions.begin() as session:
        reconcile.record_run(session, report)
    return ContractJSONResponse({"recorded": True}, status_code=201)
