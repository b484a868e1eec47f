"""Inventory rows. Thin: invariants the database can hold are check constraints; every write goes
through ``services.py``, which also records the outbox event of each row it writes."""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import F, Q

from monolith.inventory.fields import ByteOrderCharField

SKU_MAX_LENGTH = 64
SKU_PATTERN = r"^[A-Za-z0-9._-]+$"
#: Largest stock figure a row may hold (PostgreSQL ``integer``, the extracted service's column).
MAX_STOCK = 2_147_483_647


class Product(models.Model):
    # Validators serve the admin's forms; the API validates with its serializers.
    sku = ByteOrderCharField(
        primary_key=True, max_length=SKU_MAX_LENGTH, validators=[RegexValidator(SKU_PATTERN)]
    )
    name = models.CharField(max_length=200)
    price = models.DecimalField(
        max_digits=10, decimal_places=2, validators=[MinValueValidator(Decimal("0"))]
    )
    on_hand = models.IntegerField(
        default=0, validators=[MinValueValidator(0), MaxValueValidator(MAX_STOCK)]
    )
    reserved = models.IntegerField(default=0)
    version = models.IntegerField(default=1)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(reserved__gte=0), name="product_reserved_gte_0"),
            models.CheckConstraint(
                condition=Q(reserved__lte=F("on_hand")), name="product_reserved_lte_on_hand"
            ),
            models.CheckConstraint(condition=Q(price__gte=0), name="product_price_gte_0"),
            models.CheckConstraint(condition=Q(version__gte=1), name="product_version_gte_1"),
        ]

    def __str__(self) -> str:
        return f"{self.sku} {self.name}"

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


class ReservationStatus(models.TextChoices):
    PENDING = "pending"
    COMMITTED = "committed"
    RELEASED = "released"


class Reservation(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    order_id = models.UUIDField(unique=True)
    status = models.CharField(
        max_length=16, choices=ReservationStatus.choices, default=ReservationStatus.PENDING
    )
    version = models.IntegerField(default=1)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=ReservationStatus.values), name="reservation_status_known"
            ),
            models.CheckConstraint(condition=Q(version__gte=1), name="reservation_version_gte_1"),
        ]

    def __str__(self) -> str:
        return f"{self.id} ({self.status})"


class ReservationLine(models.Model):
    reservation = models.ForeignKey(Reservation, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey(
        Product, on_delete=models.PROTECT, db_column="sku", related_name="reservation_lines"
    )
    quantity = models.IntegerField()

    class Meta:
        ordering = ["product_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["reservation", "product"], name="reservation_line_one_per_sku"
            ),
            models.CheckConstraint(condition=Q(quantity__gte=1), name="reservation_line_qty_gte_1"),
        ]

    def __str__(self) -> str:
        return f"{self.product_id} x {self.quantity}"
