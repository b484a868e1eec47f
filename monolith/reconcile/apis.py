"""``/internal/reconcile/<aggregate>/...``: the monolith's range checksums, rows and current
states of each reconciled aggregate, for ``strangler sync reconcile`` (shapes:
contracts.reconcile). Not routed by the proxy (it never forwards ``/internal/``). They only read,
but each is a ``POST`` computing over a whole table, so each needs the sync token like every
internal request but a read (``monolith.api.internal``). An unknown aggregate is the contract's
404, a bad body or key a 400 ``invalid``."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from pydantic import BaseModel, ValidationError
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from contracts.reconcile import BoundsRequest, ChecksumsRequest, RowsRequest, StatesRequest
from monolith.api.internal import InternalApi
from monolith.reconcile.source import SourceAggregate, answers
from monolith.reconcile.sources import source_named


def _invalid(detail: str) -> Response:
    return Response(
        {"error": "invalid", "detail": " ".join(detail.split())[:2000]},
        status=status.HTTP_400_BAD_REQUEST,
    )


def _answer(aggregate: SourceAggregate, part: str, request: Any) -> dict[str, Any]:
    if part == "states":
        return {"states": aggregate.states(request.keys)}
    answer: BaseModel = getattr(answers(aggregate), part)(request)
    return answer.model_dump()


class ReconcileApi(InternalApi):
    """``POST /internal/reconcile/<aggregate>/<part>``; ``part`` and its request ``model`` are
    given by the URL (``as_view(part=..., model=...)``)."""

    part = ""
    model: type[BaseModel] = BaseModel

    @extend_schema(exclude=True)
    def post(self, request: Request, aggregate: str) -> Response:
        found = source_named(aggregate)
        if found is None:
            return Response(
                {"error": "not_found", "detail": f"No reconciled aggregate {aggregate!r}."},
                status=status.HTTP_404_NOT_FOUND,
            )
        try:
            return Response(_answer(found, self.part, self.model.model_validate(request.data)))
        except ValidationError as exc:
            return _invalid(str(exc))
        except ValueError as exc:  # bounds out of order or outside the range, a bad key
            return _invalid(str(exc))


#: The parts and their request models (monolith.reconcile.urls routes each).
PARTS: dict[str, type[BaseModel]] = {
    "bounds": BoundsRequest,
    "checksums": ChecksumsRequest,
    "rows": RowsRequest,
    "states": StatesRequest,
}
