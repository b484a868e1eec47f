"""The monolith's reverse-sync tables: direction per capability, inbox (processed event ids) and
dead letters. Thin: the rules live in ``direction.py``, ``inbox.py`` and ``dead_letters.py``."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

DIRECTIONS = ("forward", "frozen", "reverse", "retired")


class CapabilityDirection(models.Model):
    """Who takes the capability's writes (contracts.direction); one row per capability, created
    ``forward`` by the migration."""

    capability = models.CharField(max_length=32, primary_key=True)
    direction = models.CharField(max_length=16)
    changed_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(direction__in=DIRECTIONS), name="capability_direction_known"
            )
        ]

    def __str__(self) -> str:
        return f"{self.capability}: {self.direction}"


class InboxEvent(models.Model):
    """Every event id reverse sync delivered once (dedup), with what it did and its lag."""

    event_id = models.UUIDField(primary_key=True)
    origin = models.CharField(max_length=32)
    aggregate_type = models.CharField(max_length=32)
    aggregate_id = models.CharField(max_length=200)
    version = models.IntegerField()
    #: "applied" or "stale" (processed, but the monolith's row was as new or newer).
    outcome = models.CharField(max_length=16)
    occurred_at = models.DateTimeField()
    applied_at = models.DateTimeField()
    lag_s = models.FloatField()

    class Meta:
        indexes = [models.Index(fields=["applied_at"], name="inbox_applied_at_idx")]

    def __str__(self) -> str:
        return f"{self.event_id} {self.aggregate_type} {self.aggregate_id} v{self.version}"


class DeadLetter(models.Model):
    """An event the monolith could not apply for a reason retrying cannot fix, with the error."""

    event_id = models.CharField(max_length=64, null=True, db_index=True)
    envelope = models.JSONField()
    error = models.TextField()
    attempts = models.IntegerField()
    parked_at = models.DateTimeField()
    last_failed_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"#{self.pk} {self.event_id}"
