from __future__ import annotations

from django.urls import path

from monolith.inventory import reconcile_apis

app_name = "reconcile"

urlpatterns = [
    path("products/bounds", reconcile_apis.BoundsApi.as_view(), name="bounds"),
    path("products/checksums", reconcile_apis.ChecksumsApi.as_view(), name="checksums"),
    path("products/rows", reconcile_apis.RowsApi.as_view(), name="rows"),
    path("products/states", reconcile_apis.StatesApi.as_view(), name="states"),
]
