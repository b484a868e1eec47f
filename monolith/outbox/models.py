"""One row per event, written by ``services.outbox_record`` inside the writer's transaction and
marked published by the relay (``relay.py``) once the broker has it."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q


class OutboxEvent(models.Model):
    seq = models.BigAutoField(primary_key=True)
    event_id = models.UUIDField(unique=True, default=uuid.uuid4, editable=False)
    aggregate_type = models.CharField(max_length=32)
    aggregate_id = models.CharField(max_length=64)
    event_type = models.CharField(max_length=100)
    version = models.IntegerField()
    payload = models.JSONField()
    origin = models.CharField(max_length=32, default="monolith")
    occurred_at = models.DateTimeField()
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            # The relay's query: pending events in seq order. Partial, so it stays small.
            models.Index(
                fields=["seq"], condition=Q(published_at__isnull=True), name="outbox_pending_idx"
            ),
            models.Index(fields=["aggregate_type", "aggregate_id"], name="outbox_aggregate_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.event_type} {self.aggregate_id} v{self.version}"
