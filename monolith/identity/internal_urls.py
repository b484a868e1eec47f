from __future__ import annotations

from django.urls import path

from monolith.identity.revocation_api import RevocationListApi

app_name = "identity_internal"

urlpatterns = [
    path("revocations", RevocationListApi.as_view(), name="revocations"),
]
