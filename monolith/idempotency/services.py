"""Writes of the idempotency records besides the requests themselves: the purge."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone

from monolith.idempotency.models import IdempotencyRecord

#: How long a key is honoured at least; older records may be purged.
RETENTION = timedelta(hours=24)


def idempotency_purge(*, older_than: timedelta = RETENTION, now: datetime | None = None) -> int:
    """Delete the records created more than ``older_than`` ago; returns how many."""
    cutoff = (now or timezone.now()) - older_than
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted
