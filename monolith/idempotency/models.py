"""One row per ``(principal, Idempotency-Key)``: the fingerprint of the request that first used
the key and the answer it got, inserted in that request's own transaction (``keys.py``)."""

from __future__ import annotations

import uuid

from django.db import models

KEY_MAX_LENGTH = 255


class IdempotencyRecord(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    principal_id = models.UUIDField()
    key = models.CharField(max_length=KEY_MAX_LENGTH)
    #: sha256 hex of method, path and the canonical JSON body.
    fingerprint = models.CharField(max_length=64)
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=2048)
    #: The answer, set before the first request's transaction commits (``None`` only inside it).
    status_code = models.PositiveSmallIntegerField(null=True)
    #: The answer's JSON exactly as first rendered (text, so the replay keeps its key order).
    response_body = models.TextField(null=True)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["principal_id", "key"], name="idempotency_key_once"),
        ]
        indexes = [models.Index(fields=["created_at"], name="idempotency_created_idx")]

    def __str__(self) -> str:
        return f"{self.principal_id} {self.key} -> {self.status_code}"
