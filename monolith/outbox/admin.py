"""The outbox in the admin: read-only, to watch events leave (useful in the workshop)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from monolith.outbox.models import OutboxEvent


class PendingFilter(admin.SimpleListFilter):
    title = "published"
    parameter_name = "published"

    def lookups(
        self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]
    ) -> list[tuple[str, str]]:
        return [("no", "pending"), ("yes", "published")]

    def queryset(
        self, request: HttpRequest, queryset: QuerySet[OutboxEvent]
    ) -> QuerySet[OutboxEvent]:
        if self.value() in ("no", "yes"):
            return queryset.filter(published_at__isnull=self.value() == "no")
        return queryset


@admin.register(OutboxEvent)
class OutboxEventAdmin(admin.ModelAdmin):
    list_display = (
        "seq",
        "event_type",
        "aggregate_type",
        "aggregate_id",
        "version",
        "occurred_at",
        "published_at",
    )
    list_filter = (PendingFilter, "aggregate_type", "event_type")
    search_fields = ("aggregate_id", "event_id")
    ordering = ("-seq",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: OutboxEvent | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: OutboxEvent | None = None) -> bool:
        return False
