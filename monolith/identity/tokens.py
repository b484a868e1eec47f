"""Issuing and verifying access tokens (claims in ``contracts.tokens``)."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import jwt
from django.conf import settings
from pydantic import ValidationError

from contracts.tokens import ALGORITHM, AUDIENCE, ISSUER, LEEWAY_S, TokenClaims
from monolith.identity.keys import signing_keys
from monolith.identity.models import User


class InvalidToken(Exception):
    """Any reason a token is refused; the reason is logged, never told to the client."""


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    expires_in: int


def token_issue(*, user: User, ttl_s: int | None = None, now: float | None = None) -> IssuedToken:
    ttl = settings.JWT_TTL_S if ttl_s is None else ttl_s
    issued_at = int(time.time() if now is None else now)
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

    Only ``EdDSA`` is accepted (so ``alg=none`` and HMAC-with-the-public-key confusions fail), and
    every registered claim is required.
    """
    try:
        decoded = jwt.decode(
            token,
            signing_keys().public,
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            issuer=ISSUER,
            leeway=LEEWAY_S,
            options={"require": ["sub", "iss", "aud", "iat", "exp", "jti"]},
        )
        return TokenClaims.model_validate(decoded)
    except (jwt.PyJWTError, ValidationError) as exc:
        raise InvalidToken(str(exc)) from None
