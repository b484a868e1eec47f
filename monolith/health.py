"""Liveness and readiness: ``/health/live`` answers while the process runs, ``/health/ready``
only while the database answers a query too."""

from __future__ import annotations

from django.db import DatabaseError, connection
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView


class HealthLiveApi(APIView):
    def get(self, request: Request) -> Response:
        return Response({"status": "ok"})


class HealthReadyApi(APIView):
    def get(self, request: Request) -> Response:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
                cursor.fetchone()
        except DatabaseError as err:
            reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            return Response({"status": "unavailable", "detail": f"database: {reason}"}, status=503)
        return Response({"status": "ok"})
