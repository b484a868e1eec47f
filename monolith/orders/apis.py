"""The orders' HTTP API (docs/orders-api.md): thin views over services and selectors.

Every view needs a caller (``AuthenticatedApi``). Reads are scoped to what the caller may see
(``customer_scope``); checkout acts for ``acting_customer``; cancel is for the order's customer and
staff; fulfil is for staff (the order's own customer is told 403, anyone else 404).
"""

from __future__ import annotations

import uuid
from typing import Any

from django.http import HttpResponseBase
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from monolith.api.bodies import request_body
from monolith.api.exception_handlers import contract_exception_handler
from monolith.api.pagination import ContractPagination
from monolith.api.schema import ErrorSerializer
from monolith.errors import ApplicationError
from monolith.idempotency.keys import idempotent, idempotent_in_steps
from monolith.idempotency.schema import IDEMPOTENCY_KEY
from monolith.identity.access import acting_customer, customer_scope
from monolith.identity.authentication import AuthenticatedApi
from monolith.inventory.apis import BoundedListField, InsufficientStockErrorSerializer, SkuField
from monolith.inventory.models import MAX_STOCK
from monolith.orders.errors import CheckoutShortOfStock, FulfilmentStaffOnly, OrderNotFound
from monolith.orders.models import MAX_LINES, CancelReason, Order, OrderStatus
from monolith.orders.selectors import order_exists, order_get, order_list
from monolith.orders.services import (
    CheckoutResult,
    order_cancel,
    order_checkout,
    order_fulfil,
    remote_ports,
)
from monolith.payments.errors import PaymentDeclined, PaymentGatewayFailed
from monolith.payments.gateway import CARD_TOKEN_MAX_LENGTH, is_card_token


class OrderLineOutputSerializer(serializers.Serializer):
    sku = serializers.CharField()
    quantity = serializers.IntegerField()
    unit_price = serializers.DecimalField(max_digits=12, decimal_places=2)
    line_total = serializers.DecimalField(max_digits=12, decimal_places=2)


class OrderOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    customer_id = serializers.UUIDField()
    status = serializers.CharField()
    cancel_reason = serializers.CharField(allow_null=True)
    lines = OrderLineOutputSerializer(many=True)
    total = serializers.DecimalField(max_digits=12, decimal_places=2)
    payment_id = serializers.UUIDField(allow_null=True)
    reservation_id = serializers.UUIDField(allow_null=True)
    version = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class CheckoutShortOfStockErrorSerializer(InsufficientStockErrorSerializer):
    order = OrderOutputSerializer(help_text="The order, stored cancelled (insufficient_stock).")


class CheckoutDeclinedErrorSerializer(ErrorSerializer):
    reason = serializers.CharField(help_text="The gateway's decline reason.")
    order = OrderOutputSerializer(help_text="The order, stored cancelled (payment_declined).")


class CheckoutGatewayErrorSerializer(ErrorSerializer):
    order = OrderOutputSerializer(help_text="The order, stored cancelled (payment_error).")


class OrderInvalidStateErrorSerializer(ErrorSerializer):
    status = serializers.CharField(help_text="The order's current status.")


_NOT_CONFIRMED = OpenApiResponse(
    OrderInvalidStateErrorSerializer, description="`invalid_state`: the order is not confirmed."
)
_CHECKOUT_REFUSALS = {
    402: OpenApiResponse(
        CheckoutDeclinedErrorSerializer,
        description="`payment_declined`: the order was stored cancelled.",
    ),
    403: OpenApiResponse(
        ErrorSerializer, description="`permission_denied`: a customer named another customer."
    ),
    409: OpenApiResponse(
        CheckoutShortOfStockErrorSerializer,
        description="`insufficient_stock`: the order was stored cancelled; every short line.",
    ),
    422: OpenApiResponse(
        ErrorSerializer, description="`idempotency_key_reused`: the key named another request."
    ),
    502: OpenApiResponse(
        CheckoutGatewayErrorSerializer,
        description="`gateway_error`: the order was stored cancelled; nothing was charged.",
    ),
}


def _order_body(order: Order) -> dict[str, Any]:
    return dict(OrderOutputSerializer(order).data)


def checkout_refusal(result: CheckoutResult) -> ApplicationError | None:
    """The error a cancelled checkout answers with (its body carries the stored order)."""
    order = result.order
    if order.status != OrderStatus.CANCELLED:
        return None
    body = _order_body(order)
    if order.cancel_reason == CancelReason.INSUFFICIENT_STOCK:
        return CheckoutShortOfStock(result.shortages, order=body)
    if order.cancel_reason == CancelReason.PAYMENT_DECLINED:
        return PaymentDeclined(result.decline_reason or "declined", order=body)
    return PaymentGatewayFailed(order=body)


def checkout_answer(result: CheckoutResult, request: Request) -> tuple[int, dict[str, Any]]:
    """The status and body a checkout answers (kept on its ``Idempotency-Key``)."""
    refusal = checkout_refusal(result)
    if refusal is None:
        return status.HTTP_201_CREATED, _order_body(result.order)
    response = contract_exception_handler(refusal, {"request": request})
    assert response is not None  # an application error always has a contract answer
    return response.status_code, dict(response.data)


class OrderListCreateApi(AuthenticatedApi):
    class InputSerializer(serializers.Serializer):
        class LineSerializer(serializers.Serializer):
            sku = SkuField()
            quantity = serializers.IntegerField(min_value=1, max_value=MAX_STOCK)

        customer_id = serializers.UUIDField(required=False, allow_null=True, default=None)
        lines = BoundedListField(child=LineSerializer(), allow_empty=False, max_length=MAX_LINES)
        card_token = serializers.CharField(max_length=CARD_TOKEN_MAX_LENGTH)

        def validate_card_token(self, value: str) -> str:
            if not is_card_token(value):
                raise serializers.ValidationError("Not a card token (expected tok_ and [a-z0-9_]).")
            return value

    class FilterSerializer(serializers.Serializer):
        status = serializers.ChoiceField(choices=OrderStatus.values, required=False)
        customer_id = serializers.UUIDField(required=False)

    OutputSerializer = OrderOutputSerializer
    pagination_class = ContractPagination  # also tells the schema that the list is paginated

    @extend_schema(parameters=[FilterSerializer], responses={200: OutputSerializer(many=True)})
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        orders = order_list(scope=customer_scope(self.principal), **filters.validated_data)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(orders, request, view=self)
        return paginator.get_paginated_response(self.OutputSerializer(page, many=True).data)

    @extend_schema(
        parameters=[IDEMPOTENCY_KEY],
        request=InputSerializer,
        responses={201: OutputSerializer, **_CHECKOUT_REFUSALS},
    )
    def post(self, request: Request) -> HttpResponseBase:
        """Checkout; an ``Idempotency-Key`` makes a repeat replay the first answer."""
        # Once a port is remote the checkout runs in steps that each commit, and so does the
        # key's record (docs/branch-by-abstraction.md).
        if remote_ports():
            return idempotent_in_steps(
                request, self.principal, lambda record_id: self._checkout(request, record_id)
            )
        return idempotent(request, self.principal, lambda: self._checkout(request, None))

    def _checkout(self, request: Request, record_id: uuid.UUID | None) -> Response:
        serializer = self.InputSerializer(data=request_body(request))
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        result = order_checkout(
            customer_id=acting_customer(self.principal, data["customer_id"]),
            lines=[(line["sku"], line["quantity"]) for line in data["lines"]],
            card_token=data["card_token"],
            idempotency_record_id=record_id,
            answer=lambda decided: checkout_answer(decided, request),
        )
        refusal = checkout_refusal(result)
        if refusal is not None:
            raise refusal
        return Response(_order_body(result.order), status=status.HTTP_201_CREATED)


class OrderDetailApi(AuthenticatedApi):
    OutputSerializer = OrderOutputSerializer

    @extend_schema(responses={200: OutputSerializer})
    def get(self, request: Request, order_id: uuid.UUID) -> Response:
        order = order_get(order_id=order_id, scope=customer_scope(self.principal))
        return Response(self.OutputSerializer(order).data)


class OrderCancelApi(AuthenticatedApi):
    """Takes no body: whatever is sent is never parsed."""

    OutputSerializer = OrderOutputSerializer

    @extend_schema(request=None, responses={200: OutputSerializer, 409: _NOT_CONFIRMED})
    def post(self, request: Request, order_id: uuid.UUID) -> Response:
        order = order_cancel(
            order_id=order_id,
            scope=customer_scope(self.principal),
            by_staff=self.principal.is_staff,
        )
        return Response(self.OutputSerializer(order).data)


class OrderFulfilApi(AuthenticatedApi):
    """Staff only; takes no body."""

    OutputSerializer = OrderOutputSerializer

    @extend_schema(
        request=None,
        responses={
            200: OutputSerializer,
            403: OpenApiResponse(
                ErrorSerializer, description="`permission_denied`: the order's own customer."
            ),
            409: _NOT_CONFIRMED,
        },
    )
    def post(self, request: Request, order_id: uuid.UUID) -> Response:
        principal = self.principal
        if not principal.is_staff:
            if order_exists(order_id=order_id, scope=principal.id):
                raise FulfilmentStaffOnly()
            raise OrderNotFound(order_id)
        return Response(self.OutputSerializer(order_fulfil(order_id=order_id)).data)
