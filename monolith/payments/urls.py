from __future__ import annotations

from django.urls import URLPattern

app_name = "payments"

urlpatterns: list[URLPattern] = []
