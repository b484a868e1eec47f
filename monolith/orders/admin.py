"""Django admin for orders. Orders are placed through checkout only: the admin shows orders and
their lines and cancels or fulfils confirmed ones through the services, so every write it makes
refunds, releases or commits and records its outbox events like an API write."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from monolith.errors import ApplicationError
from monolith.orders.models import Order, OrderLine, OrderProgress, OrderStatus
from monolith.orders.services import order_cancel, order_fulfil


class OrderLineInline(admin.TabularInline):
    model = OrderLine
    fields = ("sku", "quantity", "unit_price", "line_total")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "customer_id",
        "status",
        "cancel_reason",
        "total",
        "version",
        "created_at",
    )
    list_filter = ("status", "cancel_reason")
    search_fields = ("id", "customer_id", "payment_id", "reservation_id")
    ordering = ("-created_at", "-id")
    inlines = (OrderLineInline,)
    actions = ("cancel_selected", "fulfil_selected")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Order | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Order | None = None) -> bool:
        return False

    def _each_confirmed(
        self,
        request: HttpRequest,
        queryset: QuerySet[Order],
        write: Callable[[Order], object],
        done_word: str,
    ) -> None:
        done = 0
        for order in queryset.filter(status=OrderStatus.CONFIRMED):
            try:
                write(order)
                done += 1
            except ApplicationError as err:
                self.message_user(request, f"{order.id}: {err.detail}", messages.WARNING)
        self.message_user(request, f"{done} order(s) {done_word}.")

    @admin.action(description="Cancel selected confirmed orders (refund + release)")
    def cancel_selected(self, request: HttpRequest, queryset: QuerySet[Order]) -> None:
        self._each_confirmed(
            request,
            queryset,
            lambda order: order_cancel(order_id=order.id, scope=None, by_staff=True),
            "cancelled",
        )

    @admin.action(description="Fulfil selected confirmed orders (commit the stock)")
    def fulfil_selected(self, request: HttpRequest, queryset: QuerySet[Order]) -> None:
        self._each_confirmed(
            request, queryset, lambda order: order_fulfil(order_id=order.id), "fulfilled"
        )


@admin.register(OrderProgress)
class OrderProgressAdmin(admin.ModelAdmin):
    """Read-only: the steps of the orders' remote writes, to watch what the recovery pass has
    left to finish or compensate (``finished`` false). Only the steps change these rows."""

    list_display = (
        "order_id",
        "kind",
        "state",
        "finished",
        "reservation",
        "payment",
        "failure",
        "attempts",
        "updated_at",
    )
    list_filter = ("finished", "kind", "state")
    search_fields = ("order_id",)
    ordering = ("-created_at",)
    exclude = ("card_token",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
