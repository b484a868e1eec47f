"""The monolith's own access token, for its calls to a capability's owner over HTTP (the orders'
remote adapters, monolith/orders/remote.py).

The monolith is the token issuer, so it mints the token itself with ``token_issue`` (the one
issuing function: whatever verification requires of a token, it gets), for a staff account
created on first use with no usable password. One account for every monolith process, because
a charge's ``Idempotency-Key`` belongs to the principal that sent it: every try of one charge,
from whichever process (recovery after a crash included), must come from the same principal.
Renewed when half of its lifetime is gone, so a call never carries a token about to expire.
"""

from __future__ import annotations

import threading
import time

from django.db import IntegrityError, transaction

from monolith.identity.models import User
from monolith.identity.tokens import token_issue


def service_account(username: str) -> User:
    """The staff account ``username``, created (no usable password) when missing."""
    user = User.objects.filter(username=username).first()
    if user is not None:
        return user
    try:
        with transaction.atomic():
            user = User(username=username, is_staff=True)
            user.set_unusable_password()
            user.save(force_insert=True)
            return user
    except IntegrityError:  # another process created it first
        return User.objects.get(username=username)


class ServiceToken:
    """A callable giving a valid token of ``username`` (thread-safe)."""

    def __init__(self, username: str) -> None:
        self.username = username
        self._lock = threading.Lock()
        self._token: str | None = None
        self._renew_at = 0.0

    def __call__(self) -> str:
        with self._lock:
            now = time.monotonic()
            if self._token is None or now >= self._renew_at:
                issued = token_issue(user=service_account(self.username))
                self._token = issued.access_token
                self._renew_at = now + issued.expires_in / 2
            return self._token
