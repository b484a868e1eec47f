"""Internal HTTP of the outbox (not routed by the proxy)."""

from __future__ import annotations

from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from monolith.outbox.selectors import outbox_stats


class OutboxStatsApi(APIView):
    def get(self, request: Request) -> Response:
        return Response(outbox_stats())
