"""Order rows. Thin: invariants the database can hold are check constraints; every write goes
through ``services.py``, which also records the order's outbox event in the same transaction.

An order names its customer, payment and reservation by id only (no foreign keys): each of them
belongs to another context (identity, payments, inventory) that moves to its own service and its
own database during the migration, and the ids are what every copy of the order carries.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q

from monolith.inventory.fields import ByteOrderCharField
from monolith.inventory.models import SKU_MAX_LENGTH
from monolith.money import MONEY_MAX_DIGITS

#: Most lines one order may hold (after repeated skus are merged).
MAX_LINES = 100
CANCEL_REASON_MAX_LENGTH = 64


class OrderStatus(models.TextChoices):
    # ``pending`` belongs to the extracted service's saga; the monolith never writes it, but a
    # row synced back from the service (reverse sync) may carry it.
    PENDING = "pending"
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"
    FULFILLED = "fulfilled"


class CancelReason(models.TextChoices):
    INSUFFICIENT_STOCK = "insufficient_stock"
    PAYMENT_DECLINED = "payment_declined"
    PAYMENT_ERROR = "payment_error"
    CANCELLED_BY_CUSTOMER = "cancelled_by_customer"
    CANCELLED_BY_STAFF = "cancelled_by_staff"


class Order(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    customer_id = models.UUIDField()
    status = models.CharField(max_length=16, choices=OrderStatus.choices)
    cancel_reason = models.CharField(max_length=CANCEL_REASON_MAX_LENGTH, null=True, blank=True)
    total = models.DecimalField(max_digits=MONEY_MAX_DIGITS, decimal_places=2)
    payment_id = models.UUIDField(null=True, blank=True)
    reservation_id = models.UUIDField(null=True, blank=True)
    version = models.IntegerField(default=1)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=OrderStatus.values), name="order_status_known"
            ),
            # A cancelled order says why; no other order has a reason.
            models.CheckConstraint(
                condition=Q(status=OrderStatus.CANCELLED, cancel_reason__isnull=False)
                | (~Q(status=OrderStatus.CANCELLED) & Q(cancel_reason__isnull=True)),
                name="order_cancel_reason_iff_cancelled",
            ),
            models.CheckConstraint(condition=Q(total__gt=0), name="order_total_gt_0"),
            models.CheckConstraint(condition=Q(version__gte=1), name="order_version_gte_1"),
        ]
        indexes = [
            # The listings, newest first with ties by id (descending, as payments do), across all
            # orders, per customer and per status: each stops after one page of its index.
            models.Index(fields=["-created_at", "-id"], name="order_newest_idx"),
            models.Index(fields=["customer_id", "-created_at", "-id"], name="order_customer_idx"),
            models.Index(fields=["status", "-created_at", "-id"], name="order_status_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.id} ({self.status})"


class OrderLine(models.Model):
    """One sku of an order, priced at checkout. Part of the order's state, not an aggregate."""

    # No index of its own: the unique (order, sku) index serves every lookup by order.
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines", db_index=False)
    sku = ByteOrderCharField(max_length=SKU_MAX_LENGTH)
    quantity = models.IntegerField()
    unit_price = models.DecimalField(max_digits=MONEY_MAX_DIGITS, decimal_places=2)
    line_total = models.DecimalField(max_digits=MONEY_MAX_DIGITS, decimal_places=2)

    class Meta:
        ordering = ["sku"]
        constraints = [
            models.UniqueConstraint(fields=["order", "sku"], name="order_line_one_per_sku"),
            models.CheckConstraint(condition=Q(quantity__gte=1), name="order_line_qty_gte_1"),
            models.CheckConstraint(
                condition=Q(unit_price__gte=0), name="order_line_unit_price_gte_0"
            ),
            models.CheckConstraint(condition=Q(line_total__gte=0), name="order_line_total_gte_0"),
        ]

    def __str__(self) -> str:
        return f"{self.sku} x {self.quantity}"
