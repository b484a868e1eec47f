"""Internal HTTP of the outbox (not routed by the proxy; reads, open: ``monolith.api.internal``)."""

from __future__ import annotations

from typing import get_args

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from contracts.direction import TAIL_LIMIT_MAX
from contracts.events import Capability
from monolith.api.internal import InternalApi
from monolith.outbox.selectors import outbox_stats, outbox_tail


class OutboxStatsApi(InternalApi):
    """``GET /internal/outbox/stats[?capability=inventory]``: the backlog of one capability's
    events (the sync gates ask for the capability being moved) or of all of them."""

    class FilterSerializer(serializers.Serializer):
        capability = serializers.ChoiceField(choices=get_args(Capability), required=False)

    @extend_schema(exclude=True)
    def get(self, request: Request) -> Response:
        given = self.FilterSerializer(data=request.query_params)
        given.is_valid(raise_exception=True)
        return Response(outbox_stats(capability=given.validated_data.get("capability")))


class OutboxTailApi(InternalApi):
    """``GET /internal/outbox/tail?capability=inventory[&limit=N]``: what the forward drain of
    the direction switch reads (contracts.direction.OutboxTail)."""

    class FilterSerializer(serializers.Serializer):
        capability = serializers.ChoiceField(choices=get_args(Capability))
        limit = serializers.IntegerField(min_value=0, max_value=TAIL_LIMIT_MAX, default=100)

    @extend_schema(exclude=True)
    def get(self, request: Request) -> Response:
        given = self.FilterSerializer(data=request.query_params)
        given.is_valid(raise_exception=True)
        tail = outbox_tail(
            capability=given.validated_data["capability"], limit=given.validated_data["limit"]
        )
        return Response(tail.model_dump(mode="json"))
