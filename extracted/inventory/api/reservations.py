"""``/api/inventory/reservations/``: reserve, read, commit, release."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Request

from extracted.chassis.web import paths  # noqa: F401  (registers the {…:lower_uuid} converter)
from extracted.chassis.web.deps import Body, Sessions
from extracted.chassis.web.dry_run import is_dry_run
from extracted.chassis.web.responses import ContractJSONResponse
from extracted.chassis.web.unit_of_work import unit_of_work
from extracted.inventory import selectors, services
from extracted.inventory.api.access import stock_writers
from extracted.inventory.api.schemas import reservation_body, reservation_create_input

router = APIRouter(prefix="/api/inventory/reservations", dependencies=[Depends(stock_writers)])


@router.post("/")
def reservation_create(request: Request, sessions: Sessions, body: Body) -> ContractJSONResponse:
    data = reservation_create_input.validate(body.json())
    lines = [(line["sku"], line["quantity"]) for line in data["lines"]]
    with unit_of_work(sessions, dry_run=is_dry_run(request)) as session:
        reservation = services.reservation_create(
            session, order_id=data["order_id"], lines=lines, reservation_id=data["id"]
        )
        rendered = reservation_body(reservation)
    return ContractJSONResponse(rendered, status_code=201)


@router.api_route("/{reservation_id:lower_uuid}/", methods=["GET", "HEAD"])
def reservation_detail(reservation_id: uuid.UUID, sessions: Sessions) -> ContractJSONResponse:
    with sessions() as session:
        reservation = selectors.reservation_get(session, reservation_id)
        if reservation is None:
            raise services.reservation_not_found(reservation_id)
        return ContractJSONResponse(reservation_body(reservation))


@router.post("/{reservation_id:lower_uuid}/commit/")
def reservation_commit(
    reservation_id: uuid.UUID, request: Request, sessions: Sessions
) -> ContractJSONResponse:
    with unit_of_work(sessions, dry_run=is_dry_run(request)) as session:
        reservation = services.reservation_commit(session, reservation_id=reservation_id)
        rendered = reservation_body(reservation)
    return ContractJSONResponse(rendered)


@router.post("/{reservation_id:lower_uuid}/release/")
def reservation_release(
    reservation_id: uuid.UUID, request: Request, sessions: Sessions
) -> ContractJSONResponse:
    with unit_of_work(sessions, dry_run=is_dry_run(request)) as session:
        reservation = services.reservation_release(session, reservation_id=reservation_id)
        rendered = reservation_body(reservation)
    return ContractJSONResponse(rendered)
