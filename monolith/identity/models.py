"""Accounts. A customer's ``id`` is the ``customer_id`` their orders and payments carry, in every
database, so it is a UUID chosen here rather than a per-database integer."""

from __future__ import annotations

import uuid

from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)

    def __str__(self) -> str:
        return self.username
