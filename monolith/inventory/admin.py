"""Django admin for inventory. Stock never changes here: the admin shows products and
reservations, creates products through ``product_create`` and settles reservations through the
services, so every write it makes records its outbox events like an API write."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest

from monolith.errors import ApplicationError
from monolith.inventory.models import Product, Reservation, ReservationLine, ReservationStatus
from monolith.inventory.services import product_create, reservation_commit, reservation_release


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ("sku", "name", "price", "on_hand", "reserved", "available", "version")
    search_fields = ("sku", "name")
    ordering = ("sku",)
    fields = ("sku", "name", "price", "on_hand", "reserved", "version", "created_at", "updated_at")

    def get_fields(self, request: HttpRequest, obj: Product | None = None) -> Any:
        if obj is None:
            return ("sku", "name", "price", "on_hand")
        return self.fields

    def has_change_permission(self, request: HttpRequest, obj: Product | None = None) -> bool:
        return False  # view-only: stock moves through the API's services

    def has_delete_permission(self, request: HttpRequest, obj: Product | None = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Product, form: ModelForm, change: bool) -> None:
        created = product_create(sku=obj.sku, name=obj.name, price=obj.price, on_hand=obj.on_hand)
        for field in Product._meta.concrete_fields:
            setattr(obj, field.attname, getattr(created, field.attname))
        obj._state.adding = False
        obj._state.db = created._state.db


class ReservationLineInline(admin.TabularInline):
    model = ReservationLine
    fields = ("product", "quantity")
    readonly_fields = ("product", "quantity")
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Reservation)
class ReservationAdmin(admin.ModelAdmin):
    list_display = ("id", "order_id", "status", "version", "updated_at")
    list_filter = ("status",)
    search_fields = ("id", "order_id")
    inlines = (ReservationLineInline,)
    actions = ("commit_selected", "release_selected")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Reservation | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Reservation | None = None) -> bool:
        return False

    def _settle(
        self, request: HttpRequest, queryset: QuerySet[Reservation], *, commit: bool
    ) -> None:
        done = 0
        for reservation in queryset.filter(status=ReservationStatus.PENDING):
            try:
                if commit:
                    reservation_commit(reservation_id=reservation.id)
                else:
                    reservation_release(reservation_id=reservation.id)
                done += 1
            except ApplicationError as err:
                self.message_user(request, f"{reservation.id}: {err.detail}", messages.WARNING)
        self.message_user(
            request, f"{done} reservation(s) {'committed' if commit else 'released'}."
        )

    @admin.action(description="Commit selected pending reservations")
    def commit_selected(self, request: HttpRequest, queryset: QuerySet[Reservation]) -> None:
        self._settle(request, queryset, commit=True)

    @admin.action(description="Release selected pending reservations")
    def release_selected(self, request: HttpRequest, queryset: QuerySet[Reservation]) -> None:
        self._settle(request, queryset, commit=False)
