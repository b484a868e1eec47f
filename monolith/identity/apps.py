from __future__ import annotations

from django.apps import AppConfig


class IdentityConfig(AppConfig):
    name = "monolith.identity"
    label = "identity"
    default_auto_field = "django.db.models.BigAutoField"
