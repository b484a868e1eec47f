"""A URLconf whose one internal view forgot the check (a plain ``APIView``, not
``monolith.api.internal.InternalApi``): the probe must fail it."""

from __future__ import annotations

from django.urls import path
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView


class ForgottenApi(APIView):
    def post(self, request: Request) -> Response:
        return Response({"done": True})


urlpatterns = [path("internal/sync/forgotten", ForgottenApi.as_view())]
