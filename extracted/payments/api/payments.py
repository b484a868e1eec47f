"""``/api/payments/``: list, authorise (and capture), read, capture, void, refund.

Every endpoint needs a caller (``CurrentCaller``, resolved before anything else is looked at).
Reads and actions are scoped to what the caller may see (``customer_scope``: another customer's
payment is a 404 like an unknown id); a new payment is for ``acting_customer``. Create and refund
honour ``Idempotency-Key`` (``extracted.payments.idempotency``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy.orm import Session

from card_gateway.fake import GatewayError, GatewayOutcome, gateway_authorize
from extracted.chassis.web import paths  # noqa: F401  (registers the {…:lower_uuid} converter)
from extracted.chassis.web.deps import Body, Sessions
from extracted.chassis.web.dry_run import is_dry_run
from extracted.chassis.web.errors import refusal
from extracted.chassis.web.identity import Caller, CurrentCaller, acting_customer, customer_scope
from extracted.chassis.web.pagination import PageNumberPagination
from extracted.chassis.web.request_body import RequestBody
from extracted.chassis.web.responses import ContractJSONResponse
from extracted.chassis.web.unit_of_work import unit_of_work
from extracted.payments import selectors, services
from extracted.payments.api.schemas import (
    payment_body,
    payment_create_input,
    query_filters,
    refund_create_input,
)
from extracted.payments.errors import PaymentDeclined, PaymentGatewayFailed
from extracted.payments.idempotency import idempotency_key, idempotent, request_path
from extracted.payments.wiring import WRITES

router = APIRouter(prefix="/api/payments")

pagination = PageNumberPagination()


@router.api_route("/", methods=["GET", "HEAD"])
def payment_list(
    request: Request, caller: CurrentCaller, sessions: Sessions
) -> ContractJSONResponse:
    filters = query_filters(request.query_params)
    scope = customer_scope(caller)
    with sessions() as session:
        page = pagination.paginate(
            request,
            count=lambda: selectors.payment_count(session, customer_id=scope, filters=filters),
            fetch=lambda offset, limit: selectors.payment_page(
                session, customer_id=scope, filters=filters, offset=offset, limit=limit
            ),
            render=payment_body,
        )
    return ContractJSONResponse(page)


def _authorize(
    caller: Caller, raw: Any, writable: Callable[[], object]
) -> tuple[dict[str, Any], uuid.UUID, GatewayOutcome]:
    """Validate, pick the customer, check the service takes the writes (``writable``: 503 while
    frozen, before the card is asked), ask the gateway: (input, payment id, outcome)."""
    data = payment_create_input.validate(raw)
    data["customer_id"] = acting_customer(caller, data["customer_id"])
    writable()
    payment_id = uuid.uuid4()
    try:
        outcome = gateway_authorize(
            payment_id=payment_id, amount=data["amount"], card_token=data["card_token"]
        )
    except GatewayError:
        raise PaymentGatewayFailed() from None
    return data, payment_id, outcome


def _store(
    session: Session, data: dict[str, Any], payment_id: uuid.UUID, outcome: GatewayOutcome
) -> ContractJSONResponse:
    payment = services.payment_store(
        session,
        payment_id=payment_id,
        customer_id=data["customer_id"],
        order_id=data["order_id"],
        amount=data["amount"],
        outcome=outcome,
        capture=data["capture"],
    )
    rendered = payment_body(payment)
    if payment.status == services.DECLINED:
        declined = PaymentDeclined(payment.decline_reason or "declined", payment=rendered)
        # An answer, not a raise: the declined attempt is stored.
        return refusal(declined).response()
    return ContractJSONResponse(rendered, status_code=201)


@router.post("/")
def payment_create(
    request: Request, caller: CurrentCaller, sessions: Sessions, body: Body
) -> ContractJSONResponse:
    """Authorise (with ``capture``, capture) a payment."""
    key = idempotency_key(request)
    raw = body.json()
    dry_run = is_dry_run(request)
    if key is None:
        # As in the monolith: the gateway answers before a transaction opens (the store takes
        # the direction again, in its transaction).
        data, payment_id, outcome = _authorize(
            caller, raw, lambda: WRITES.refuse_while_frozen(sessions)
        )
        with unit_of_work(sessions, dry_run=dry_run) as session:
            return _store(session, data, payment_id, outcome)
    with unit_of_work(sessions, dry_run=dry_run) as session:
        return idempotent(  # a replay is answered while frozen: the request ran before
            session,
            caller=caller,
            key=key,
            method="POST",
            path=request_path(request),
            body=raw,
            handler=lambda: _store(
                session, *_authorize(caller, raw, lambda: WRITES.guard_write(session))
            ),
        )


@router.api_route("/{payment_id:lower_uuid}/", methods=["GET", "HEAD"])
def payment_detail(
    payment_id: uuid.UUID, caller: CurrentCaller, sessions: Sessions
) -> ContractJSONResponse:
    with sessions() as session:
        payment = selectors.payment_get(
            session, payment_id=payment_id, customer_id=customer_scope(caller)
        )
        return ContractJSONResponse(payment_body(payment))


@router.post("/{payment_id:lower_uuid}/capture/")
def payment_capture(
    payment_id: uuid.UUID, request: Request, caller: CurrentCaller, sessions: Sessions
) -> ContractJSONResponse:
    """Captures the full amount of an authorised payment; takes no body."""
    with unit_of_work(sessions, dry_run=is_dry_run(request)) as session:
        selectors.payment_get(session, payment_id=payment_id, customer_id=customer_scope(caller))
        rendered = payment_body(services.payment_capture(session, payment_id=payment_id))
    return ContractJSONResponse(rendered)


@router.post("/{payment_id:lower_uuid}/void/")
def payment_void(
    payment_id: uuid.UUID, request: Request, caller: CurrentCaller, sessions: Sessions
) -> ContractJSONResponse:
    """Lets an authorisation go; takes no body."""
    with unit_of_work(sessions, dry_run=is_dry_run(request)) as session:
        selectors.payment_get(session, payment_id=payment_id, customer_id=customer_scope(caller))
        rendered = payment_body(services.payment_void(session, payment_id=payment_id))
    return ContractJSONResponse(rendered)


def _refund(
    session: Session, caller: Caller, payment_id: uuid.UUID, body: RequestBody
) -> ContractJSONResponse:
    # An unknown (or another customer's) payment is a 404 whatever the body says.
    selectors.payment_get(session, payment_id=payment_id, customer_id=customer_scope(caller))
    data = refund_create_input.validate(body.json())
    payment = services.payment_refund(session, payment_id=payment_id, amount=data["amount"])
    return ContractJSONResponse(payment_body(payment), status_code=201)


@router.post("/{payment_id:lower_uuid}/refunds/")
def refund_create(
    payment_id: uuid.UUID,
    request: Request,
    caller: CurrentCaller,
    sessions: Sessions,
    body: Body,
) -> ContractJSONResponse:
    """Refund part or (without ``amount``) all of what is left of a captured payment."""
    key = idempotency_key(request)
    dry_run = is_dry_run(request)
    if key is None:
        with unit_of_work(sessions, dry_run=dry_run) as session:
            return _refund(session, caller, payment_id, body)
    raw = body.json()  # the fingerprint needs the body before anything else, as in the monolith
    with unit_of_work(sessions, dry_run=dry_run) as session:
        return idempotent(
            session,
            caller=caller,
            key=key,
            method="POST",
            path=request_path(request),
            body=raw,
            handler=lambda: _refund(session, caller, payment_id, body),
        )
