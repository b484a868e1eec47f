from __future__ import annotations

from django.urls import path

from monolith.outbox import apis

app_name = "outbox"

urlpatterns = [
    path("stats", apis.OutboxStatsApi.as_view(), name="stats"),
    path("tail", apis.OutboxTailApi.as_view(), name="tail"),
]
