"""The payments' HTTP API (docs/payments-api.md): thin views over services and selectors.

Every view needs a caller (``AuthenticatedApi``). Reads and actions on a payment are scoped to
what the caller may see (``customer_scope``: another customer's payment is a 404 like an unknown
id); a new payment is for ``acting_customer``. The two writes that move money in (create) or out
(refund) honour ``Idempotency-Key`` (``monolith.idempotency.keys``).
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from django.http import HttpResponseBase
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from monolith.api.bodies import request_body
from monolith.api.pagination import ContractPagination
from monolith.api.schema import ErrorSerializer
from monolith.idempotency.keys import idempotent
from monolith.idempotency.schema import IDEMPOTENCY_KEY, KEY_REUSED
from monolith.identity.access import acting_customer, customer_scope
from monolith.identity.authentication import AuthenticatedApi
from monolith.payments.errors import PaymentDeclined, PaymentGatewayFailed
from monolith.payments.gateway import CARD_TOKEN_MAX_LENGTH, GatewayError, is_card_token
from monolith.payments.models import Payment, PaymentStatus
from monolith.payments.selectors import payment_get, payment_list
from monolith.payments.services import (
    payment_authorize,
    payment_capture,
    payment_refund,
    payment_void,
)


class MoneyField(serializers.DecimalField):
    """A positive amount with at most two places (DRF's messages, then "greater than 0")."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_digits=12, decimal_places=2, **kwargs)

    def to_internal_value(self, data: Any) -> Decimal:
        value = super().to_internal_value(data)
        if value <= 0:
            raise serializers.ValidationError("Ensure this value is greater than 0.")
        return value


class RefundOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    amount = serializers.DecimalField(max_digits=12, decimal_places=2)
    created_at = serializers.DateTimeField()


class PaymentOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    customer_id = serializers.UUIDField()
    order_id = serializers.UUIDField(allow_null=True)
    amount = serializers.DecimalField(max_digits=12, decimal_places=2)
    status = serializers.CharField()
    captured_amount = serializers.DecimalField(max_digits=12, decimal_places=2)
    refunded_amount = serializers.DecimalField(max_digits=12, decimal_places=2)
    decline_reason = serializers.CharField(allow_null=True)
    gateway_reference = serializers.CharField(allow_null=True)
    refunds = RefundOutputSerializer(many=True)
    version = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


def payment_body(payment: Payment) -> dict[str, Any]:
    return dict(PaymentOutputSerializer(payment).data)


class PaymentDeclinedErrorSerializer(ErrorSerializer):
    reason = serializers.CharField(help_text="The gateway's decline reason.")
    payment = PaymentOutputSerializer(help_text="The declined attempt, as stored.")


class PaymentInvalidStateErrorSerializer(ErrorSerializer):
    status = serializers.CharField(help_text="The payment's current status.")


class RefundRefusedErrorSerializer(ErrorSerializer):
    status = serializers.CharField(
        required=False, help_text="`invalid_state` only: the payment's current status."
    )
    refundable = serializers.DecimalField(
        max_digits=12,
        decimal_places=2,
        required=False,
        help_text="`refund_exceeds_captured` only: what is left to refund.",
    )


_CREATE_REFUSALS = {
    402: OpenApiResponse(
        PaymentDeclinedErrorSerializer,
        description="`payment_declined`: the declined attempt was stored.",
    ),
    403: OpenApiResponse(
        ErrorSerializer, description="`permission_denied`: a customer named another customer."
    ),
    422: KEY_REUSED,
    502: OpenApiResponse(
        ErrorSerializer, description="`gateway_error`: nothing was stored or charged."
    ),
}
_NOT_AUTHORIZED = OpenApiResponse(
    PaymentInvalidStateErrorSerializer,
    description="`invalid_state`: the payment is not authorized.",
)
_REFUND_REFUSED = OpenApiResponse(
    RefundRefusedErrorSerializer,
    description="`invalid_state` (the payment is not captured) or `refund_exceeds_captured`.",
)


class PaymentListCreateApi(AuthenticatedApi):
    class InputSerializer(serializers.Serializer):
        amount = MoneyField()
        card_token = serializers.CharField(max_length=CARD_TOKEN_MAX_LENGTH)
        order_id = serializers.UUIDField(required=False, allow_null=True, default=None)
        customer_id = serializers.UUIDField(required=False, allow_null=True, default=None)
        capture = serializers.BooleanField(required=False, default=False)

        def validate_card_token(self, value: str) -> str:
            if not is_card_token(value):
                raise serializers.ValidationError("Not a card token (expected tok_ and [a-z0-9_]).")
            return value

    class FilterSerializer(serializers.Serializer):
        status = serializers.ChoiceField(choices=PaymentStatus.values, required=False)
        order_id = serializers.UUIDField(required=False)
        customer_id = serializers.UUIDField(required=False)

    OutputSerializer = PaymentOutputSerializer
    pagination_class = ContractPagination  # also tells the schema that the list is paginated

    @extend_schema(parameters=[FilterSerializer], responses={200: OutputSerializer(many=True)})
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        payments = payment_list(
            customer_id=customer_scope(self.principal), filters=filters.validated_data
        )
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(payments, request, view=self)
        return paginator.get_paginated_response(self.OutputSerializer(page, many=True).data)

    @extend_schema(
        parameters=[IDEMPOTENCY_KEY],
        request=InputSerializer,
        responses={201: OutputSerializer, **_CREATE_REFUSALS},
    )
    def post(self, request: Request) -> HttpResponseBase:
        """Authorise (and with ``capture``, capture) a payment; an ``Idempotency-Key`` makes a
        repeat replay the first answer."""
        return idempotent(request, self.principal, lambda: self._create(request))

    def _create(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request_body(request))
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            payment = payment_authorize(
                customer_id=acting_customer(self.principal, data["customer_id"]),
                amount=data["amount"],
                card_token=data["card_token"],
                order_id=data["order_id"],
                capture=data["capture"],
            )
        except GatewayError:
            raise PaymentGatewayFailed() from None
        if payment.status == PaymentStatus.DECLINED:
            raise PaymentDeclined(
                payment.decline_reason or "declined", payment=payment_body(payment)
            )
        return Response(payment_body(payment), status=status.HTTP_201_CREATED)


class PaymentDetailApi(AuthenticatedApi):
    OutputSerializer = PaymentOutputSerializer

    @extend_schema(responses={200: OutputSerializer})
    def get(self, request: Request, payment_id: uuid.UUID) -> Response:
        payment = payment_get(payment_id=payment_id, customer_id=customer_scope(self.principal))
        return Response(self.OutputSerializer(payment).data)


class PaymentCaptureApi(AuthenticatedApi):
    """Captures the full amount of an authorised payment; takes no body."""

    OutputSerializer = PaymentOutputSerializer

    @extend_schema(request=None, responses={200: OutputSerializer, 409: _NOT_AUTHORIZED})
    def post(self, request: Request, payment_id: uuid.UUID) -> Response:
        payment_get(payment_id=payment_id, customer_id=customer_scope(self.principal))
        return Response(self.OutputSerializer(payment_capture(payment_id=payment_id)).data)


class PaymentVoidApi(AuthenticatedApi):
    """Lets an authorisation go; takes no body."""

    OutputSerializer = PaymentOutputSerializer

    @extend_schema(request=None, responses={200: OutputSerializer, 409: _NOT_AUTHORIZED})
    def post(self, request: Request, payment_id: uuid.UUID) -> Response:
        payment_get(payment_id=payment_id, customer_id=customer_scope(self.principal))
        return Response(self.OutputSerializer(payment_void(payment_id=payment_id)).data)


class PaymentRefundCreateApi(AuthenticatedApi):
    class InputSerializer(serializers.Serializer):
        amount = MoneyField(required=False, allow_null=True, default=None)

    OutputSerializer = PaymentOutputSerializer

    @extend_schema(
        parameters=[IDEMPOTENCY_KEY],
        request=InputSerializer,
        responses={201: OutputSerializer, 409: _REFUND_REFUSED, 422: KEY_REUSED},
    )
    def post(self, request: Request, payment_id: uuid.UUID) -> HttpResponseBase:
        """Refund part or (without ``amount``) all of what is left of a captured payment; an
        ``Idempotency-Key`` makes a repeat replay the first answer."""
        return idempotent(request, self.principal, lambda: self._refund(request, payment_id))

    def _refund(self, request: Request, payment_id: uuid.UUID) -> Response:
        # An unknown (or another customer's) payment is a 404 whatever the body says.
        payment_get(payment_id=payment_id, customer_id=customer_scope(self.principal))
        serializer = self.InputSerializer(data=request_body(request))
        serializer.is_valid(raise_exception=True)
        payment = payment_refund(payment_id=payment_id, amount=serializer.validated_data["amount"])
        return Response(self.OutputSerializer(payment).data, status=status.HTTP_201_CREATED)
