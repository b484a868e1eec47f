from __future__ import annotations

from django.urls import path

from monolith.reconcile.apis import PARTS, ReconcileApi

app_name = "reconcile"

urlpatterns = [
    path(f"<str:aggregate>/{part}", ReconcileApi.as_view(part=part, model=model), name=part)
    for part, model in PARTS.items()
]
