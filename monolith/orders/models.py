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


class ProgressKind(models.TextChoices):
    CHECKOUT = "checkout"
    CANCEL = "cancel"
    FULFIL = "fulfil"


class ProgressState(models.TextChoices):
    # checkout, going forward
    RESERVING = "reserving"
    CHARGING = "charging"
    # checkout, undoing what was done (a refusal, an owner down, a crash before the order)
    COMPENSATING = "compensating"
    # cancel and fulfil: settle the payment and the reservation, then write the order
    SETTLING = "settling"
    DONE = "done"


class StepOutcome(models.TextChoices):
    """What a step left at an owner: ``maybe`` once it was asked (recorded before the call), so
    a crash or a timeout leaves it to be resolved by asking again (every step is idempotent)."""

    NONE = "none"
    MAYBE = "maybe"
    HELD = "held"
    UNDONE = "undone"


class OrderProgress(models.Model):
    """The durable record of an order write that calls an owner over HTTP (a remote adapter):
    committed *before* each call, so a process killed at any step leaves what it had asked for,
    and the recovery pass (``order_recovery.py``) finishes or compensates it.

    Written only while some port is remote; a write whose ports are all in process stays one
    local transaction and needs none. ``version`` is compare-and-set on every change and the
    runner holds ``lease_until``: recovery takes only rows whose lease ran out.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=16, choices=ProgressKind.choices)
    order_id = models.UUIDField()
    state = models.CharField(max_length=16, choices=ProgressState.choices)
    finished = models.BooleanField(default=False)
    version = models.IntegerField(default=1)
    customer_id = models.UUIDField()
    #: [{sku, quantity, unit_price, line_total}] priced when the checkout started.
    lines = models.JSONField(default=list)
    total = models.DecimalField(max_digits=MONEY_MAX_DIGITS, decimal_places=2)
    #: Kept until the checkout ends (a recovery may repeat the charge), then cleared.
    card_token = models.CharField(max_length=128, null=True, blank=True)
    by_staff = models.BooleanField(default=False)
    reservation_id = models.UUIDField(null=True, blank=True)
    reservation = models.CharField(max_length=8, choices=StepOutcome.choices, default="none")
    payment_id = models.UUIDField(null=True, blank=True)
    payment = models.CharField(max_length=8, choices=StepOutcome.choices, default="none")
    #: The checkout's cancel reason once refused (or ``unavailable``), with what the answer needs.
    failure = models.CharField(max_length=CANCEL_REASON_MAX_LENGTH, null=True, blank=True)
    failure_detail = models.JSONField(default=dict)
    idempotency_record_id = models.UUIDField(null=True, blank=True)
    attempts = models.IntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    lease_until = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField()
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            # One unfinished remote write per order at a time.
            models.UniqueConstraint(
                fields=["order_id"], condition=Q(finished=False), name="order_progress_one_open"
            ),
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(finished=False),
                name="order_progress_due_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.order_id} ({self.state})"
