"""Django admin for payments. Money never moves by editing a row: the admin shows payments with
their refunds, and captures, voids and refunds (in full) through the services' actions, so every
write it makes records its outbox event like an API write."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from monolith.errors import ApplicationError
from monolith.payments.models import Payment, PaymentStatus, Refund
from monolith.payments.services import payment_capture, payment_refund, payment_void


class RefundInline(admin.TabularInline):
    model = Refund
    fields = ("id", "amount", "created_at")
    readonly_fields = ("id", "amount", "created_at")
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Payment)
class PaymentAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "customer_id",
        "order_id",
        "amount",
        "status",
        "captured_amount",
        "refunded_amount",
        "version",
        "created_at",
    )
    list_filter = ("status",)
    search_fields = ("id", "customer_id", "order_id", "gateway_reference")
    ordering = ("-created_at", "-id")
    inlines = (RefundInline,)
    actions = ("capture_selected", "void_selected", "refund_selected")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Payment | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Payment | None = None) -> bool:
        return False

    def _apply(
        self,
        request: HttpRequest,
        queryset: QuerySet[Payment],
        *,
        status: str,
        write: Callable[[Payment], object],
        done_label: str,
    ) -> None:
        done = 0
        for payment in queryset.filter(status=status):
            try:
                write(payment)
                done += 1
            except ApplicationError as err:
                self.message_user(request, f"{payment.id}: {err.detail}", messages.WARNING)
        self.message_user(request, f"{done} payment(s) {done_label}.")

    @admin.action(description="Capture selected authorised payments")
    def capture_selected(self, request: HttpRequest, queryset: QuerySet[Payment]) -> None:
        self._apply(
            request,
            queryset,
            status=PaymentStatus.AUTHORIZED,
            write=lambda p: payment_capture(payment_id=p.id),
            done_label="captured",
        )

    @admin.action(description="Void selected authorised payments")
    def void_selected(self, request: HttpRequest, queryset: QuerySet[Payment]) -> None:
        self._apply(
            request,
            queryset,
            status=PaymentStatus.AUTHORIZED,
            write=lambda p: payment_void(payment_id=p.id),
            done_label="voided",
        )

    @admin.action(description="Refund what is left of selected captured payments")
    def refund_selected(self, request: HttpRequest, queryset: QuerySet[Payment]) -> None:
        self._apply(
            request,
            queryset,
            status=PaymentStatus.CAPTURED,
            write=lambda p: payment_refund(payment_id=p.id),
            done_label="refunded",
        )
