"""Reverse sync in the admin: read-only, to watch the direction, the inbox and dead letters (the
direction moves through ``sync.control.direction`` only: a drain must come with it)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Model
from django.http import HttpRequest

from monolith.reverse_sync.models import CapabilityDirection, DeadLetter, InboxEvent


class _ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


@admin.register(CapabilityDirection)
class CapabilityDirectionAdmin(_ReadOnly):
    list_display = ("capability", "direction", "changed_at")


@admin.register(InboxEvent)
class InboxEventAdmin(_ReadOnly):
    list_display = ("event_id", "origin", "aggregate_type", "aggregate_id", "version", "outcome")
    list_filter = ("outcome", "aggregate_type", "origin")
    search_fields = ("aggregate_id", "event_id")
    ordering = ("-applied_at",)


@admin.register(DeadLetter)
class DeadLetterAdmin(_ReadOnly):
    list_display = ("id", "event_id", "attempts", "parked_at", "error")
    ordering = ("id",)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return ("event_id", "envelope", "error", "attempts", "parked_at", "last_failed_at")
