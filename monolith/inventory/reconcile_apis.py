"""``/internal/reconcile/products/...``: the monolith's range checksums, rows and current states
for ``strangler sync reconcile`` (shapes: contracts.reconcile). Not routed by the proxy."""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar

from drf_spectacular.utils import extend_schema
from pydantic import BaseModel, ValidationError
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from contracts.reconcile import BoundsRequest, ChecksumsRequest, RowsRequest, StatesRequest
from monolith.inventory import reconcile

M = TypeVar("M", bound=BaseModel)


def _invalid(detail: str) -> Response:
    return Response(
        {"error": "invalid", "detail": " ".join(detail.split())[:2000]},
        status=status.HTTP_400_BAD_REQUEST,
    )


class _ReconcileApi(APIView):
    model: ClassVar[type[BaseModel]]

    def answer(self, request: Any) -> dict[str, Any]:
        raise NotImplementedError

    @extend_schema(exclude=True)
    def post(self, request: Request) -> Response:
        try:
            given = self.model.model_validate(request.data)
            return Response(self.answer(given))
        except ValidationError as exc:
            return _invalid(str(exc))
        except ValueError as exc:  # bounds out of order or outside the range
            return _invalid(str(exc))


class BoundsApi(_ReconcileApi):
    model = BoundsRequest

    def answer(self, request: BoundsRequest) -> dict[str, Any]:
        return reconcile.bounds(request).model_dump()


class ChecksumsApi(_ReconcileApi):
    model = ChecksumsRequest

    def answer(self, request: ChecksumsRequest) -> dict[str, Any]:
        return reconcile.checksums(request).model_dump()


class RowsApi(_ReconcileApi):
    model = RowsRequest

    def answer(self, request: RowsRequest) -> dict[str, Any]:
        return reconcile.rows(request).model_dump()


class StatesApi(_ReconcileApi):
    model = StatesRequest

    def answer(self, request: StatesRequest) -> dict[str, Any]:
        return {"states": reconcile.product_states(request.keys)}
