"""Accounts. A customer's ``id`` is the ``customer_id`` their orders and payments carry, in every
database, so it is a UUID chosen here rather than a per-database integer.

Saving or deleting an account revokes its tokens when it ends them (``contracts.revocations``):
deactivation (active -> inactive), a password change (Django's own notion: ``set_password`` then
``save``; the hash upgrade Django makes at a login is not one) and deletion, whichever way it
comes (admin, ``manage.py changepassword``, the ORM). The revocation is written in the same
transaction as the change. ``QuerySet.update`` bypasses models, so it revokes nothing: change
accounts through their instances.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from django.contrib.auth.models import AbstractUser
from django.db import models, router, transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver

from contracts.revocations import RETENTION_S


class TokenRevocation(models.Model):
    """An account's last revocation. Not a foreign key: the row outlives a deleted account (a
    tombstone) for ``RETENTION_S``, while a token of it could still be valid."""

    sub = models.UUIDField(primary_key=True)
    #: Unix seconds, floored: tokens with ``iat <= revoked_at`` are refused.
    revoked_at = models.BigIntegerField(db_index=True)

    @classmethod
    def record(cls, sub: uuid.UUID, *, now: float | None = None) -> int:
        """Revoke every token of ``sub`` issued up to now (never moves an entry back), and drop
        the entries past ``RETENTION_S``; the entry's ``revoked_at``."""
        at = int(time.time() if now is None else now)
        with transaction.atomic(using=router.db_for_write(cls)):
            entry, created = cls.objects.select_for_update().get_or_create(
                sub=sub, defaults={"revoked_at": at}
            )
            if not created and entry.revoked_at < at:
                entry.revoked_at = at
                entry.save(update_fields=["revoked_at"])
            cls.objects.filter(revoked_at__lt=at - RETENTION_S).delete()
        return entry.revoked_at


class User(AbstractUser):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)

    def __str__(self) -> str:
        return self.username

    def _ends_tokens(self) -> bool:
        """Whether saving now ends the account's tokens: a new password, or deactivation."""
        if self._state.adding:
            return False
        # Django's mark of a password change: set by set_password, cleared by a hash upgrade.
        if getattr(self, "_password", None) is not None:
            return True
        if self.is_active:
            return False
        was_active = (
            type(self)
            ._default_manager.filter(pk=self.pk)
            .values_list("is_active", flat=True)
            .first()
        )
        return bool(was_active)

    def save(self, *args: Any, **kwargs: Any) -> None:
        with transaction.atomic(using=router.db_for_write(type(self))):
            ends_tokens = self._ends_tokens()
            super().save(*args, **kwargs)
            if ends_tokens:
                TokenRevocation.record(self.pk)


@receiver(post_delete, sender=User)
def _revoke_on_delete(sender: type[User], instance: User, **kwargs: Any) -> None:
    """Every deletion (one instance, a queryset, the admin's bulk action) sends this inside the
    deletion's transaction."""
    TokenRevocation.record(instance.pk)
