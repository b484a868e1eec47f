"""Issuing and verifying access tokens (claims in ``contracts.tokens``; revocation in
``contracts.revocations``)."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import jwt
from django.conf import settings
from pydantic import ValidationError

from contracts.tokens import (
    ALGORITHM,
    AUDIENCE,
    ISSUER,
    LEEWAY_S,
    MAX_LIFETIME_S,
    REQUIRED_CLAIMS,
    TokenClaims,
)
from monolith.identity.keys import signing_keys
from monolith.identity.models import User
from monolith.identity.revocation import earliest_iat


class InvalidToken(Exception):
    """Any reason a token is refused; the reason is logged, never told to the client."""


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    expires_in: int


def token_issue(*, user: User, ttl_s: int | None = None, now: float | None = None) -> IssuedToken:
    """A token of ``user`` (an active account: an inactive one gets none, whoever asks), issued
    after the account's last revocation (``earliest_iat``), so it is not refused by it; an
    account never saved has none to read."""
    ttl = settings.JWT_TTL_S if ttl_s is None else ttl_s
    if not 0 < ttl <= MAX_LIFETIME_S:
        raise ValueError(f"a token lives 1 to {MAX_LIFETIME_S} s, not {ttl}")
    if not user.is_active:
        raise ValueError(f"the account {user.username!r} is inactive")
    issued_at = int(time.time() if now is None else now)
    if not user._state.adding:
        issued_at = earliest_iat(user.id, issued_at)
    keys = signing_keys()
    claims = {
        "sub": str(user.id),
        "username": user.username,
        "staff": bool(user.is_staff),
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": issued_at,
        "exp": issued_at + ttl,
        "jti": uuid.uuid4().hex,
    }
    token = jwt.encode(claims, keys.private, algorithm=ALGORITHM, headers={"kid": keys.kid})
    return IssuedToken(access_token=token, expires_in=ttl)


def token_verify(token: str) -> TokenClaims:
    """The claims of a token this monolith signed and that is still valid, or ``InvalidToken``.

    Only ``EdDSA`` is accepted (so ``alg=none`` and HMAC-with-the-public-key confusions fail), the
    header's ``kid`` must name this monolith's key, every registered claim is required and typed
    strictly, and the lifetime is capped (``contracts.tokens``).
    """
    keys = signing_keys()
    try:
        kid = jwt.get_unverified_header(token).get("kid")
        if kid != keys.kid:
            raise InvalidToken(f"kid {kid!r} names no published key")
        decoded = jwt.decode(
            token,
            keys.public,
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            issuer=ISSUER,
            leeway=LEEWAY_S,
            options={"require": list(REQUIRED_CLAIMS)},
        )
        return TokenClaims.model_validate(decoded)
    except (jwt.PyJWTError, ValidationError) as exc:
        raise InvalidToken(str(exc)) from None
