"""Who is calling: built from a verified token's claims alone (no database read), exactly as an
extracted service builds it from the same token, so both apply the same rules."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from contracts.tokens import TokenClaims


@dataclass(frozen=True)
class Principal:
    id: uuid.UUID  # for a customer: the customer_id of their orders and payments
    username: str
    is_staff: bool

    # The attributes DRF and Django read on ``request.user``.
    is_authenticated = True
    is_anonymous = False
    is_active = True

    @classmethod
    def from_claims(cls, claims: TokenClaims) -> Principal:
        return cls(id=claims.sub, username=claims.username, is_staff=claims.staff)
