"""Django admin for idempotency records: read-only (they are written by the requests they
describe); deleting one lets its key be used again."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from monolith.idempotency.models import IdempotencyRecord


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(admin.ModelAdmin):
    list_display = ("key", "principal_id", "method", "path", "status_code", "created_at")
    list_filter = ("method", "status_code")
    search_fields = ("key", "principal_id", "path")
    ordering = ("-created_at",)
    readonly_fields = (
        "id",
        "principal_id",
        "key",
        "fingerprint",
        "method",
        "path",
        "status_code",
        "response_body",
        "created_at",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(
        self, request: HttpRequest, obj: IdempotencyRecord | None = None
    ) -> bool:
        return False
