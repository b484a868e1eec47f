from __future__ import annotations

from django.urls import path

from monolith.reverse_sync import apis

app_name = "reverse_sync"

urlpatterns = [
    path("direction/<str:capability>", apis.DirectionApi.as_view(), name="direction"),
    path("processed", apis.ProcessedApi.as_view(), name="processed"),
    path("dead-letters", apis.DeadLetterListApi.as_view(), name="dead-letters"),
    path("dead-letters/replay", apis.DeadLetterReplayApi.as_view(), name="dead-letters-replay"),
]
