"""Payment rows. Thin: the money invariants are check constraints (nothing captured above the
amount, nothing refunded above what was captured, a refunded payment refunded in full); every
write goes through ``services.py``, which records the payment's outbox event in the same
transaction. Refunds are child rows of their payment's aggregate, not aggregates of their own."""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.db import models
from django.db.models import F, Q


class PaymentStatus(models.TextChoices):
    AUTHORIZED = "authorized"
    DECLINED = "declined"
    CAPTURED = "captured"
    VOIDED = "voided"
    REFUNDED = "refunded"


class Payment(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    customer_id = models.UUIDField()
    order_id = models.UUIDField(null=True, blank=True)
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    status = models.CharField(max_length=16, choices=PaymentStatus.choices)
    captured_amount = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    refunded_amount = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    decline_reason = models.CharField(max_length=100, null=True, blank=True)
    gateway_reference = models.CharField(max_length=64, null=True, blank=True)
    version = models.IntegerField(default=1)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        indexes = [
            # The listing: newest first, ties by id, within a customer or across all.
            models.Index(fields=["customer_id", "-created_at", "-id"], name="payment_customer_idx"),
            models.Index(fields=["-created_at", "-id"], name="payment_newest_idx"),
            models.Index(fields=["order_id"], name="payment_order_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=PaymentStatus.values), name="payment_status_known"
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="payment_amount_gt_0"),
            models.CheckConstraint(
                condition=Q(captured_amount__gte=0, captured_amount__lte=F("amount")),
                name="payment_captured_within_amount",
            ),
            models.CheckConstraint(
                condition=Q(refunded_amount__gte=0, refunded_amount__lte=F("captured_amount")),
                name="payment_refunded_within_captured",
            ),
            models.CheckConstraint(
                condition=~Q(status=PaymentStatus.REFUNDED)
                | Q(refunded_amount=F("captured_amount")),
                name="payment_refunded_in_full",
            ),
            models.CheckConstraint(condition=Q(version__gte=1), name="payment_version_gte_1"),
        ]

    def __str__(self) -> str:
        return f"{self.id} {self.amount} ({self.status})"

    @property
    def refundable_amount(self) -> Decimal:
        """What a refund may still take back."""
        return Decimal(self.captured_amount) - Decimal(self.refunded_amount)


class Refund(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    payment = models.ForeignKey(Payment, on_delete=models.CASCADE, related_name="refunds")
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="refund_amount_gt_0"),
        ]

    def __str__(self) -> str:
        return f"{self.id} {self.amount}"
