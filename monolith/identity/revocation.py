"""Reading the revocations (``contracts.revocations``): the monolith's own check of a token, the
earliest ``iat`` a new token of an account may carry, and the list the services fetch."""

from __future__ import annotations

import time
import uuid

from contracts.revocations import RETENTION_S, Revocation, RevocationList, refuses
from contracts.tokens import TokenClaims
from monolith.identity.models import TokenRevocation


def revoked_at(sub: uuid.UUID) -> int | None:
    """The account's last revocation (Unix seconds), or None."""
    return TokenRevocation.objects.filter(sub=sub).values_list("revoked_at", flat=True).first()


def token_revoked(claims: TokenClaims) -> bool:
    """Whether the account's tokens issued at ``claims.iat`` were revoked (one indexed read)."""
    return refuses(revoked_at(claims.sub), claims.iat)


def earliest_iat(sub: uuid.UUID, issued_at: int) -> int:
    """The ``iat`` of a token of ``sub`` issued at ``issued_at``: past the account's last
    revocation, so a token issued in the same second as the revocation is not refused by it."""
    last = revoked_at(sub)
    return issued_at if last is None else max(issued_at, last + 1)


def revocation_list(*, now: float | None = None) -> RevocationList:
    """Every entry that can still refuse a valid token, oldest first."""
    at = int(time.time() if now is None else now)
    rows = (
        TokenRevocation.objects.filter(revoked_at__gte=at - RETENTION_S)
        .order_by("revoked_at", "sub")
        .values_list("sub", "revoked_at")
    )
    entries = [Revocation.model_validate({"sub": str(sub), "revoked_at": t}) for sub, t in rows]
    return RevocationList(revocations=entries, as_of=at)
