from __future__ import annotations

from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "monolith.payments"
    label = "payments"
    default_auto_field = "django.db.models.BigAutoField"
