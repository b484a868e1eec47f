from __future__ import annotations

from django.urls import path

from monolith.identity import apis

app_name = "identity"

urlpatterns = [
    path("token/", apis.TokenCreateApi.as_view(), name="token"),
    path("jwks/", apis.JwksApi.as_view(), name="jwks"),
    path("me/", apis.MeApi.as_view(), name="me"),
]
