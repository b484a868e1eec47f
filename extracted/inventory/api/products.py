"""``/api/inventory/products/``: list, create, read, adjust stock."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from extracted.chassis.web.deps import Body, Sessions
from extracted.chassis.web.dry_run import is_dry_run
from extracted.chassis.web.pagination import PageNumberPagination
from extracted.chassis.web.responses import ContractJSONResponse
from extracted.chassis.web.unit_of_work import unit_of_work
from extracted.inventory import selectors, services
from extracted.inventory.api.access import stock_writers
from extracted.inventory.api.schemas import adjustment_input, product_body, product_create_input

router = APIRouter(prefix="/api/inventory/products", dependencies=[Depends(stock_writers)])
pagination = PageNumberPagination(page_size=50, max_page_size=500)


@router.api_route("/", methods=["GET", "HEAD"])
def product_list(request: Request, sessions: Sessions) -> ContractJSONResponse:
    with sessions() as session:
        page = pagination.paginate(
            request,
            count=lambda: selectors.product_count(session),
            fetch=lambda offset, limit: selectors.product_page(session, offset, limit),
            render=product_body,
        )
    return ContractJSONResponse(page)


@router.post("/")
def product_create(request: Request, sessions: Sessions, body: Body) -> ContractJSONResponse:
    data = product_create_input.validate(body.json())
    with unit_of_work(sessions, dry_run=is_dry_run(request)) as session:
        product = services.product_create(session, **data)
        rendered = product_body(product)
    return ContractJSONResponse(rendered, status_code=201)


@router.api_route("/{sku}/", methods=["GET", "HEAD"])
def product_detail(sku: str, sessions: Sessions) -> ContractJSONResponse:
    with sessions() as session:
        product = selectors.product_get(session, sku)
        if product is None:
            raise services.product_not_found(sku)
        return ContractJSONResponse(product_body(product))


@router.post("/{sku}/adjustments/")
def product_adjust(
    sku: str, request: Request, sessions: Sessions, body: Body
) -> ContractJSONResponse:
    with unit_of_work(sessions, dry_run=is_dry_run(request)) as session:
        if not selectors.product_exists(session, sku):  # the 404 comes before the body
            raise services.product_not_found(sku)
        data = adjustment_input.validate(body.json())
        product = services.product_adjust_stock(session, sku=sku, **data)
        rendered = product_body(product)
    return ContractJSONResponse(rendered)
