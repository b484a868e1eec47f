from __future__ import annotations

from django.urls import path

from monolith.reconcile import apis

app_name = "reconcile"

urlpatterns = [
    path("<str:aggregate>/bounds", apis.BoundsApi.as_view(), name="bounds"),
    path("<str:aggregate>/checksums", apis.ChecksumsApi.as_view(), name="checksums"),
    path("<str:aggregate>/rows", apis.RowsApi.as_view(), name="rows"),
    path("<str:aggregate>/states", apis.StatesApi.as_view(), name="states"),
]
