"""The inventory's HTTP API (docs/inventory-api.md): thin views over services and selectors.

Reads are public; every write needs a staff user or a service account (``InventoryApi``, the one
place the rule is declared). Input serializers only shape and validate the body (plain DRF, so
the messages are DRF's); every rule that needs the database is the services' business, and every
refusal becomes the contract's error body in ``monolith.api.exception_handlers``.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from django.core.exceptions import SuspiciousOperation
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import APIException
from rest_framework.request import Request
from rest_framework.response import Response

from monolith.api.bodies import request_body
from monolith.api.pagination import ContractPagination
from monolith.api.schema import PAGE_PARAMETERS, ErrorSerializer, paginated
from monolith.errors import ApplicationError
from monolith.identity.staff_writes import StaffWrites, StaffWritesApi
from monolith.inventory.models import MAX_STOCK, SKU_MAX_LENGTH, SKU_PATTERN, Product
from monolith.inventory.selectors import product_get, product_list, reservation_get
from monolith.inventory.services import (
    product_adjust_stock,
    product_create,
    reservation_commit,
    reservation_create,
    reservation_release,
)

MAX_LINES = 100


class StockWriters(StaffWrites):
    """Stock changes (every inventory write) need a staff user or a service account."""

    message = "Only staff may change stock."


class InventoryApi(StaffWritesApi):
    """Base of every inventory view: reads are public, writes are ``StockWriters``'."""

    permission_classes = [StockWriters]


class SkuField(serializers.RegexField):
    """1..64 characters of ``[A-Za-z0-9._-]``."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(SKU_PATTERN, max_length=SKU_MAX_LENGTH, **kwargs)


class BoundedListField(serializers.ListField):
    """DRF's ``ListField``, except that a list longer than ``max_length`` is refused before its
    items are validated (DRF checks the length only after validating every item: unbounded work
    for a huge list, and item errors that hide the real problem)."""

    def to_internal_value(self, data: Any) -> list[Any]:
        if isinstance(data, list) and self.max_length is not None and len(data) > self.max_length:
            self.fail("max_length", max_length=self.max_length)
        return super().to_internal_value(data)


class ProductOutputSerializer(serializers.Serializer):
    sku = serializers.CharField()
    name = serializers.CharField()
    price = serializers.DecimalField(max_digits=10, decimal_places=2)
    on_hand = serializers.IntegerField()
    reserved = serializers.IntegerField()
    available = serializers.IntegerField()
    version = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


#: One instance answers every single-product request: ``to_representation`` keeps no state
#: between calls, and a serializer built per answer deep-copies its nine declared fields on
#: every stock adjustment, the monolith's hottest write.
_PRODUCT_BODY = ProductOutputSerializer()


def product_body(product: Product) -> dict[str, Any]:
    """``ProductOutputSerializer(product).data``, without building a serializer per call."""
    return dict(_PRODUCT_BODY.to_representation(product))


class ReservationLineOutputSerializer(serializers.Serializer):
    sku = serializers.CharField(source="product_id")
    quantity = serializers.IntegerField()


class ReservationOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    order_id = serializers.UUIDField()
    status = serializers.CharField()
    lines = ReservationLineOutputSerializer(many=True)
    version = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class ShortageSerializer(serializers.Serializer):
    sku = serializers.CharField()
    requested = serializers.IntegerField()
    available = serializers.IntegerField()


class InsufficientStockErrorSerializer(ErrorSerializer):
    shortages = ShortageSerializer(many=True)


class InvalidStateErrorSerializer(ErrorSerializer):
    status = serializers.CharField(help_text="The reservation's current status.")


_INSUFFICIENT_STOCK = OpenApiResponse(
    InsufficientStockErrorSerializer, description="`insufficient_stock`: every short line."
)


_NOT_PENDING = OpenApiResponse(
    InvalidStateErrorSerializer, description="`invalid_state`: the reservation is not pending."
)


class ProductListCreateApi(InventoryApi):
    class InputSerializer(serializers.Serializer):
        sku = SkuField()
        name = serializers.CharField(max_length=200)
        price = serializers.DecimalField(max_digits=10, decimal_places=2, min_value=Decimal("0"))
        on_hand = serializers.IntegerField(min_value=0, max_value=MAX_STOCK, default=0)

    OutputSerializer = ProductOutputSerializer

    @extend_schema(
        operation_id="inventory_products_list",
        parameters=PAGE_PARAMETERS,
        responses=paginated(ProductOutputSerializer, "PaginatedProductList"),
    )
    def get(self, request: Request) -> Response:
        paginator = ContractPagination()
        page = paginator.paginate_queryset(product_list(), request, view=self)
        return paginator.get_paginated_response(self.OutputSerializer(page, many=True).data)

    @extend_schema(
        responses={
            201: ProductOutputSerializer,
            409: OpenApiResponse(ErrorSerializer, description="`conflict`: the sku exists."),
        }
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request_body(request))
        serializer.is_valid(raise_exception=True)
        product = product_create(**serializer.validated_data)
        return Response(product_body(product), status=status.HTTP_201_CREATED)


class ProductDetailApi(InventoryApi):
    OutputSerializer = ProductOutputSerializer

    def get(self, request: Request, sku: str) -> Response:
        return Response(product_body(product_get(sku=sku)))


class ProductAdjustStockApi(InventoryApi):
    class InputSerializer(serializers.Serializer):
        delta = serializers.IntegerField()
        reason = serializers.CharField(max_length=200)

        def validate_delta(self, value: int) -> int:
            if value == 0:
                raise serializers.ValidationError("Must not be zero.")
            return value

    OutputSerializer = ProductOutputSerializer

    @extend_schema(responses={200: ProductOutputSerializer, 409: _INSUFFICIENT_STOCK})
    def post(self, request: Request, sku: str) -> Response:
        try:
            serializer = self.InputSerializer(data=request_body(request))
            serializer.is_valid(raise_exception=True)
            product = product_adjust_stock(sku=sku, **serializer.validated_data)
        except (APIException, ApplicationError, SuspiciousOperation):
            # An unknown product is a 404 whatever the body (or the write) was refused for: one
            # too big to read (Django's SuspiciousOperation), malformed, invalid, or frozen.
            # Looked up only on the way out, so a write that succeeds costs no extra query;
            # the write itself answers 404 for it.
            product_get(sku=sku)
            raise
        return Response(product_body(product))


class ReservationCreateApi(InventoryApi):
    class InputSerializer(serializers.Serializer):
        class LineSerializer(serializers.Serializer):
            sku = SkuField()
            quantity = serializers.IntegerField(min_value=1)

        # Optional: a writer that must find its reservation again after a crash (the orders
        # service's saga) chooses the id; by default the service picks a uuid4.
        id = serializers.UUIDField(required=False, allow_null=True, default=None)
        order_id = serializers.UUIDField()
        lines = BoundedListField(child=LineSerializer(), allow_empty=False, max_length=MAX_LINES)

    OutputSerializer = ReservationOutputSerializer

    @extend_schema(
        responses={
            201: ReservationOutputSerializer,
            409: OpenApiResponse(
                InsufficientStockErrorSerializer,
                description="`insufficient_stock` (every short line), or `conflict`: the order "
                "already has a reservation, or the chosen `id` is taken.",
            ),
        }
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request_body(request))
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        reservation = reservation_create(
            order_id=data["order_id"],
            lines=[(line["sku"], line["quantity"]) for line in data["lines"]],
            reservation_id=data["id"],
        )
        return Response(
            self.OutputSerializer(reservation_get(reservation_id=reservation.id)).data,
            status=status.HTTP_201_CREATED,
        )


class ReservationDetailApi(InventoryApi):
    OutputSerializer = ReservationOutputSerializer

    def get(self, request: Request, reservation_id: uuid.UUID) -> Response:
        reservation = reservation_get(reservation_id=reservation_id)
        return Response(self.OutputSerializer(reservation).data)


class ReservationCommitApi(InventoryApi):
    """Takes no body: whatever is sent is never parsed."""

    OutputSerializer = ReservationOutputSerializer

    @extend_schema(request=None, responses={200: ReservationOutputSerializer, 409: _NOT_PENDING})
    def post(self, request: Request, reservation_id: uuid.UUID) -> Response:
        reservation_commit(reservation_id=reservation_id)
        reservation = reservation_get(reservation_id=reservation_id)
        return Response(self.OutputSerializer(reservation).data)


class ReservationReleaseApi(InventoryApi):
    """Takes no body: whatever is sent is never parsed."""

    OutputSerializer = ReservationOutputSerializer

    @extend_schema(request=None, responses={200: ReservationOutputSerializer, 409: _NOT_PENDING})
    def post(self, request: Request, reservation_id: uuid.UUID) -> Response:
        reservation_release(reservation_id=reservation_id)
        reservation = reservation_get(reservation_id=reservation_id)
        return Response(self.OutputSerializer(reservation).data)
