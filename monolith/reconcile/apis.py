"""``/internal/reconcile/<aggregate>/...``: the monolith's range checksums, rows and current
states of each reconciled aggregate, for ``strangler sync reconcile`` (shapes:
contracts.reconcile). Not routed by the proxy (it never forwards ``/internal/``), open like the
other internal endpoints that only read. An unknown aggregate is the contract's 404."""

from __future__ import annotations

from typing import Any, ClassVar

from drf_spectacular.utils import extend_schema
from pydantic import BaseModel, ValidationError
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from contracts.reconcile import BoundsRequest, ChecksumsRequest, RowsRequest, StatesRequest
from monolith.inventory.reconcile import PRODUCT_SOURCE, RESERVATION_SOURCE
from monolith.orders.reconcile import ORDER_SOURCE
from monolith.payments.reconcile import PAYMENT_SOURCE
from monolith.reconcile import source
from monolith.reconcile.source import SourceAggregate

#: Every aggregate the monolith reconciles, by the name in the path.
SOURCES: dict[str, SourceAggregate] = {
    s.spec.name: s for s in (PRODUCT_SOURCE, RESERVATION_SOURCE, PAYMENT_SOURCE, ORDER_SOURCE)
}


def _invalid(detail: str) -> Response:
    return Response(
        {"error": "invalid", "detail": " ".join(detail.split())[:2000]},
        status=status.HTTP_400_BAD_REQUEST,
    )


class _ReconcileApi(APIView):
    model: ClassVar[type[BaseModel]]

    def answer(self, aggregate: SourceAggregate, request: Any) -> dict[str, Any]:
        raise NotImplementedError

    @extend_schema(exclude=True)
    def post(self, request: Request, aggregate: str) -> Response:
        found = SOURCES.get(aggregate)
        if found is None:
            return Response(
                {"error": "not_found", "detail": f"No reconciled aggregate {aggregate!r}."},
                status=status.HTTP_404_NOT_FOUND,
            )
        try:
            given = self.model.model_validate(request.data)
            return Response(self.answer(found, given))
        except ValidationError as exc:
            return _invalid(str(exc))
        except ValueError as exc:  # bounds out of order or outside the range, a bad key
            return _invalid(str(exc))


class BoundsApi(_ReconcileApi):
    model = BoundsRequest

    def answer(self, aggregate: SourceAggregate, request: BoundsRequest) -> dict[str, Any]:
        return source.bounds(aggregate, request).model_dump()


class ChecksumsApi(_ReconcileApi):
    model = ChecksumsRequest

    def answer(self, aggregate: SourceAggregate, request: ChecksumsRequest) -> dict[str, Any]:
        return source.checksums(aggregate, request).model_dump()


class RowsApi(_ReconcileApi):
    model = RowsRequest

    def answer(self, aggregate: SourceAggregate, request: RowsRequest) -> dict[str, Any]:
        return source.rows(aggregate, request).model_dump()


class StatesApi(_ReconcileApi):
    model = StatesRequest

    def answer(self, aggregate: SourceAggregate, request: StatesRequest) -> dict[str, Any]:
        return {"states": source.states(aggregate, request.keys)}
