"""``/api/orders/``: list, checkout, retrieve, cancel, fulfil (docs/orders-api.md).

Every endpoint needs a caller (the chassis' ``CurrentCaller``: the monolith's one 401 otherwise).
Reads are scoped to what the caller may see; checkout acts for ``acting_customer``; cancel is for
the order's customer and staff; fulfil is for staff (the order's own customer is told 403).
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from contracts import events
from extracted.chassis.timefmt import utcnow
from extracted.chassis.web import paths  # noqa: F401  (registers the {…:lower_uuid} converter)
from extracted.chassis.web.deps import Body, Sessions
from extracted.chassis.web.dry_run import is_dry_run
from extracted.chassis.web.errors import ApiError, NotFound, ValidationFailed
from extracted.chassis.web.identity import Caller, CurrentCaller, acting_customer, customer_scope
from extracted.chassis.web.pagination import PageNumberPagination
from extracted.chassis.web.responses import ContractJSONResponse
from extracted.chassis.web.unit_of_work import unit_of_work
from extracted.orders import idempotency, selectors, states
from extracted.orders.api.answers import Answer, saga_answer, unavailable
from extracted.orders.api.deps import Runner, call_context
from extracted.orders.api.schemas import checkout_input, list_filters
from extracted.orders.clients.inventory import NotSettleable, Reserved
from extracted.orders.clients.payments import Charged, Declined
from extracted.orders.clients.upstream import CallContext, UpstreamUnavailable
from extracted.orders.models import MAX_LINES, Order, OrderLine
from extracted.orders.outbox import order_body, record_order
from extracted.orders.saga import PricedLine, SagaRunner
from extracted.orders.wiring import WRITES

router = APIRouter(prefix="/api/orders")
pagination = PageNumberPagination()

MAX_AMOUNT = Decimal("9999999999.99")


def order_not_found(order_id: uuid.UUID) -> NotFound:
    return NotFound(f"Order '{order_id}' not found.")


def not_confirmed(status: str) -> ApiError:
    return ApiError(409, "invalid_state", f"Order is {status}, expected confirmed.", status=status)


class StaffOnly(ApiError):
    def __init__(self) -> None:
        super().__init__(403, "permission_denied", "Only staff may fulfil orders.")


def _respond(answer: Answer) -> ContractJSONResponse:
    status_code, body = answer
    return ContractJSONResponse(body, status_code=status_code)


# -- list and retrieve --------------------------------------------------------------------------


@router.api_route("/", methods=["GET", "HEAD"])
def order_list(request: Request, sessions: Sessions, caller: CurrentCaller) -> ContractJSONResponse:
    filters = list_filters(request.query_params)
    scope = customer_scope(caller)
    with sessions() as session:
        page = pagination.paginate(
            request,
            count=lambda: selectors.order_count(session, scope=scope, **filters),
            fetch=lambda offset, limit: selectors.order_page(
                session, scope=scope, offset=offset, limit=limit, **filters
            ),
            render=order_body,
        )
    return ContractJSONResponse(page)


@router.api_route("/{order_id:lower_uuid}/", methods=["GET", "HEAD"])
def order_detail(
    order_id: uuid.UUID, sessions: Sessions, caller: CurrentCaller
) -> ContractJSONResponse:
    with sessions() as session:
        order = selectors.order_get(session, order_id=order_id, scope=customer_scope(caller))
        if order is None:
            raise order_not_found(order_id)
        return ContractJSONResponse(order_body(order))


# -- checkout -----------------------------------------------------------------------------------


def _merged(data: dict[str, Any]) -> tuple[dict[str, int], dict[str, int]]:
    quantities: dict[str, int] = {}
    first_index: dict[str, int] = {}
    for index, line in enumerate(data["lines"]):
        quantities[line["sku"]] = quantities.get(line["sku"], 0) + line["quantity"]
        first_index.setdefault(line["sku"], index)
    return dict(sorted(quantities.items())), first_index


def _priced(
    runner: SagaRunner, wanted: dict[str, int], first_index: dict[str, int], context: CallContext
) -> tuple[list[PricedLine], Decimal]:
    """Price every line from inventory's product (the price the order gets); every unknown sku
    is a field error on its first line, a total out of bounds an error on ``lines``."""
    prices: dict[str, Decimal] = {}
    unknown: dict[str, list[str]] = {}
    for sku in wanted:
        product = runner.inventory.product(sku, context=context)
        if product is None:
            unknown[f"lines.{first_index[sku]}.sku"] = [f"Product '{sku}' not found."]
        else:
            prices[sku] = Decimal(product["price"])
    if unknown:
        raise ValidationFailed(unknown)
    lines = [
        PricedLine(sku, quantity, prices[sku], prices[sku] * quantity)
        for sku, quantity in wanted.items()
    ]
    total = sum((line.line_total for line in lines), Decimal("0.00"))
    if total > MAX_AMOUNT:
        raise ValidationFailed({"lines": [f"Ensure the order total is no more than {MAX_AMOUNT}."]})
    if total <= 0:
        raise ValidationFailed({"lines": ["Ensure the order total is more than 0.00."]})
    return lines, total


def _fail_fast(runner: SagaRunner) -> None:
    """An upstream whose breaker is open: refuse before anything is done anywhere."""
    for client in (runner.inventory.upstream, runner.payments.upstream):
        if client.breaker.is_open():
            status_code, body = unavailable(client.name)
            raise ApiError(status_code, body.pop("error"), body.pop("detail"), **body)


@router.post("/")
def order_checkout(
    request: Request,
    sessions: Sessions,
    runner: Runner,
    caller: CurrentCaller,
    body: Body,
) -> Response:
    key = idempotency.idempotency_key(request)
    raw = body.json()
    claim = None
    if key is not None and not is_dry_run(request):
        fingerprint = idempotency.request_fingerprint(
            method="POST", path=request.url.path, body=raw
        )
        claim = idempotency.Claim(principal=caller.id, key=key, fingerprint=fingerprint)
        replay = idempotency.replayed(sessions, claim)
        if replay is not None:
            return replay
    data = checkout_input.validate(raw)
    customer_id = acting_customer(caller, data["customer_id"])
    wanted, first_index = _merged(data)
    if len(wanted) > MAX_LINES:
        raise ValidationFailed(
            {"lines": [f"Ensure this field has no more than {MAX_LINES} elements."]}
        )
    # A frozen service refuses before anything is asked upstream (dry runs too); the saga's
    # first transaction takes the direction again (saga.start_checkout).
    WRITES.refuse_while_frozen(sessions)
    _fail_fast(runner)
    context = call_context(request, dry_run=is_dry_run(request))
    try:
        lines, total = _priced(runner, wanted, first_index, context)
    except UpstreamUnavailable as exc:  # nothing was started
        return _respond(unavailable(exc.upstream))
    if is_dry_run(request):
        return _respond(_dry_run_checkout(runner, customer_id, lines, total, data, context))
    try:
        saga = runner.start_checkout(
            order_id=uuid.uuid4(),
            customer_id=customer_id,
            lines=lines,
            total=total,
            card_token=data["card_token"],
            trace_id=context.trace_id,
            claim=claim,
        )
    except idempotency.KeyTaken:  # a concurrent request with the same key got there first
        assert claim is not None
        replay = idempotency.replayed(sessions, claim)
        if replay is None:
            raise idempotency.KeyInFlight() from None
        return replay
    saga = runner.run(saga.id, request_id=context.request_id, first_run=True)
    answer = saga_answer(sessions, saga)
    if answer is None:  # taken over by another runner before its outcome was decided
        answer = unavailable("orders", "the checkout is still running")
    return _respond(answer)


def _dry_run_checkout(
    runner: SagaRunner,
    customer_id: uuid.UUID,
    lines: list[PricedLine],
    total: Decimal,
    data: dict[str, Any],
    context: CallContext,
) -> Answer:
    """The checkout's answer with every call made as a dry run upstream and nothing kept here."""
    now = utcnow()
    order = Order(
        id=uuid.uuid4(),
        customer_id=customer_id,
        status=states.ORDER_CONFIRMED,
        cancel_reason=None,
        total=total,
        version=1,
        created_at=now,
        updated_at=now,
        lines=[
            OrderLine(
                sku=x.sku, quantity=x.quantity, unit_price=x.unit_price, line_total=x.line_total
            )
            for x in lines
        ],
    )
    try:
        reserved = runner.inventory.reserve(
            reservation_id=uuid.uuid4(),
            order_id=order.id,
            lines=[(x.sku, x.quantity) for x in lines],
            context=context,
        )
        if not isinstance(reserved, Reserved):
            order.status, order.cancel_reason = states.ORDER_CANCELLED, states.INSUFFICIENT_STOCK
            return 409, {
                "error": "insufficient_stock",
                "detail": "Insufficient stock.",
                "shortages": reserved.shortages,
                "order": order_body(order),
            }
        charged = runner.payments.charge(
            key=f"dry-run-{order.id}",
            customer_id=customer_id,
            order_id=order.id,
            amount=total,
            card_token=data["card_token"],
            context=context,
        )
    except UpstreamUnavailable as exc:
        return unavailable(exc.upstream)
    if isinstance(charged, Charged):
        order.reservation_id = uuid.UUID(reserved.reservation["id"])
        order.payment_id = uuid.UUID(charged.payment["id"])
        return 201, order_body(order)
    order.status = states.ORDER_CANCELLED
    if isinstance(charged, Declined):
        order.cancel_reason = states.PAYMENT_DECLINED
        return 402, {
            "error": "payment_declined",
            "detail": "The card was declined.",
            "reason": charged.reason,
            "order": order_body(order),
        }
    order.cancel_reason = states.PAYMENT_ERROR
    return 502, {
        "error": "gateway_error",
        "detail": "The card gateway failed; nothing was charged.",
        "order": order_body(order),
    }


# -- cancel and fulfil --------------------------------------------------------------------------


@router.post("/{order_id:lower_uuid}/cancel/")
def order_cancel(
    order_id: uuid.UUID, request: Request, sessions: Sessions, runner: Runner, caller: CurrentCaller
) -> ContractJSONResponse:
    """Cancel = release the reservation, refund the payment, as a saga (saga.py). Takes no body."""
    context = call_context(request, dry_run=is_dry_run(request))
    with unit_of_work(sessions) as session:
        WRITES.guard_write(session)  # 503 while frozen (dry runs too)
        order = selectors.order_lock(session, order_id=order_id, scope=customer_scope(caller))
        if order is None:
            raise order_not_found(order_id)
        if order.status != states.ORDER_CONFIRMED:
            raise not_confirmed(order.status)
        if selectors.active_cancel(session, order_id) is not None:
            raise not_confirmed(order.status)  # being cancelled already: the cancel will answer
        if is_dry_run(request):
            return _respond(_dry_run_cancel(runner, order, caller, context))
        saga = runner.start_cancel(
            session, order, by_staff=caller.is_staff, trace_id=context.trace_id
        )
    saga = runner.run(saga.id, request_id=context.request_id, first_run=True)
    answer = saga_answer(sessions, saga)
    assert answer is not None
    return _respond(answer)


def _dry_run_cancel(
    runner: SagaRunner, order: Order, caller: Caller, context: CallContext
) -> Answer:
    try:
        if order.reservation_id is not None:
            refused = runner.inventory.release(order.reservation_id, context=context)
            if isinstance(refused, NotSettleable):
                return 409, refused.body
        if order.payment_id is not None:
            runner.payments.refund(order.payment_id, key=f"dry-run-{order.id}", context=context)
    except UpstreamUnavailable as exc:
        return unavailable(exc.upstream, "nothing changed")
    body = order_body(order)
    body.update(
        status=states.ORDER_CANCELLED,
        cancel_reason=states.CANCELLED_BY_STAFF
        if caller.is_staff
        else states.CANCELLED_BY_CUSTOMER,
        version=order.version + 1,
    )
    return 200, body


@router.post("/{order_id:lower_uuid}/fulfil/")
def order_fulfil(
    order_id: uuid.UUID, request: Request, sessions: Sessions, runner: Runner, caller: CurrentCaller
) -> ContractJSONResponse:
    """Staff only: commit the reservation (the stock leaves), then the order is ``fulfilled``.
    Both steps are idempotent, so a fulfil cut short is completed by repeating it.

    One transaction holds the direction ``FOR SHARE`` from the start to the order's write, the
    inventory call included: a freeze waits for a fulfil in flight, so none commits the stock
    and then finds the orders writes frozen (and the monolith, once it takes over, never sees a
    committed reservation under a confirmed order)."""
    dry_run = is_dry_run(request)
    context = call_context(request, dry_run=dry_run)
    with unit_of_work(sessions, dry_run=dry_run) as session:
        order = selectors.order_get(session, order_id=order_id, scope=None)
        if not caller.is_staff:
            if order is not None and order.customer_id == caller.id:
                raise StaffOnly()
            raise order_not_found(order_id)
        WRITES.guard_write(session)  # 503 while frozen (dry runs too), as the monolith: after 403
        if order is None:
            raise order_not_found(order_id)
        if order.status != states.ORDER_CONFIRMED or selectors.active_cancel(session, order_id):
            raise not_confirmed(order.status)
        if order.reservation_id is not None:
            try:
                refused = runner.inventory.commit(order.reservation_id, context=context)
            except UpstreamUnavailable as exc:
                return _respond(unavailable(exc.upstream, "nothing changed"))
            if isinstance(refused, NotSettleable):
                return _respond((409, refused.body))
        order = selectors.order_lock(session, order_id=order_id, scope=None)
        assert order is not None
        if order.status != states.ORDER_CONFIRMED:
            raise not_confirmed(order.status)
        now = utcnow()
        order.status = states.ORDER_FULFILLED
        order.version += 1
        order.updated_at = now
        session.flush()
        record_order(session, order, events.ORDER_FULFILLED, now)
        rendered = order_body(order)
    return ContractJSONResponse(rendered)
