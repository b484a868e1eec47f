from __future__ import annotations

from django.apps import AppConfig


class ReverseSyncConfig(AppConfig):
    name = "monolith.reverse_sync"
    label = "reverse_sync"
    default_auto_field = "django.db.models.BigAutoField"
