"""Who is calling: the monolith's access tokens verified with public key material only.

* The key comes from a PEM file (``STRANGLER_JWT_PUBLIC_KEY_FILE``, default
  ``$STRANGLER_VAR_DIR/keys/jwt-public.pem``, the file the monolith writes) or from the monolith's
  JWKS (``STRANGLER_JWKS_URL``, e.g. ``http://127.0.0.1:8000/api/auth/jwks/``), fetched with
  PyJWT's ``PyJWKClient`` and cached. A service never holds anything it could sign with.
* Verification is the monolith's (``monolith.identity.tokens.token_verify``): ``EdDSA`` only (so
  ``alg=none`` and HMAC-with-the-public-key fail), a ``kid`` naming a key the service was given,
  issuer, audience, leeway and every registered claim required, then
  ``contracts.tokens.TokenClaims`` (strict types, the lifetime cap).
* Revocation (``contracts.revocations``): with ``STRANGLER_REVOCATIONS_URL`` set (the stack
  sets it), a token of an account the monolith revoked is the one 401 within
  ``bound_s(STRANGLER_REVOCATIONS_REFRESH_S)`` seconds; until the service has loaded a first list
  every token is a 503 ``identity_unavailable`` (``extracted.chassis.web.revocations`` says why).
  Without the setting nothing is revoked before it expires, and the service logs so at start.
* More than one ``Authorization`` header is the one 401, as the monolith answers it: which one
  counts would otherwise depend on the server.
* Every refusal (no header, another scheme, any bad token) is the monolith's one 401: the body
  ``UNAUTHENTICATED_BODY`` and ``WWW-Authenticate: Bearer realm="strangler"``; the reason goes to
  the log only.
* The ownership rules are the monolith's (``monolith.identity.access``): reads are scoped to the
  caller's customer id (``customer_scope``; staff see all), so another customer's row is the
  same 404 as an unknown one; a write is for ``acting_customer``.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Annotated, Protocol

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fastapi import Depends, Request
from pydantic import ValidationError

from contracts.tokens import (
    ALGORITHM,
    AUDIENCE,
    ISSUER,
    LEEWAY_S,
    REQUIRED_CLAIMS,
    UNAUTHENTICATED_BODY,
    WWW_AUTHENTICATE,
    TokenClaims,
    key_id,
)
from extracted.chassis.web.errors import ApiError, ValidationFailed
from extracted.chassis.web.revocations import RevocationList

logger = logging.getLogger(__name__)

#: How long a fetched JWKS is trusted before it is fetched again.
JWKS_CACHE_S = 300
#: An unknown ``kid`` refetches the JWKS (the monolith may have a new key) at most this often, so
#: a stream of forged tokens cannot turn into a stream of fetches.
JWKS_MIN_REFRESH_S = 30
JWKS_TIMEOUT_S = 5


class InvalidToken(Exception):
    """Any reason a token is refused; logged, never told to the client."""


class KeyUnavailable(ApiError):
    """The public key cannot be had (file missing, JWKS unreachable): not the caller's fault, so
    a 503 rather than a 401 that would send a client to log in again."""

    def __init__(self, reason: str) -> None:
        super().__init__(503, "identity_unavailable", "Token verification is not available.")
        self.reason = reason


class NotAuthenticated(ApiError):
    """The monolith's single 401 (``contracts.tokens``)."""

    def __init__(self) -> None:
        body = dict(UNAUTHENTICATED_BODY)
        super().__init__(
            401,
            body.pop("error"),
            body.pop("detail"),
            headers={"WWW-Authenticate": WWW_AUTHENTICATE},
        )


class ActingForOthers(ApiError):
    def __init__(self) -> None:
        super().__init__(403, "permission_denied", "Customers may only act for themselves.")


class PublicKeySource(Protocol):
    def key_for(self, kid: str | None) -> Ed25519PublicKey:
        """The public key that should have signed a token whose header names ``kid``."""
        ...


class PemKeySource:
    """A PEM public key file, read once on first use; a token must name it by its ``kid`` (the
    key's RFC 7638 thumbprint, ``contracts.tokens.key_id``), as the monolith checks its own."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @cached_property
    def key(self) -> Ed25519PublicKey:
        try:
            loaded = serialization.load_pem_public_key(self.path.read_bytes())
        except (OSError, ValueError) as exc:
            logger.error("public key %s unreadable: %s", self.path, exc)
            raise KeyUnavailable(str(exc)) from None
        if not isinstance(loaded, Ed25519PublicKey):
            logger.error("%s does not hold an Ed25519 public key", self.path)
            raise KeyUnavailable(f"{self.path} does not hold an Ed25519 public key")
        return loaded

    @cached_property
    def kid(self) -> str:
        return key_id(
            self.key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        )

    def key_for(self, kid: str | None) -> Ed25519PublicKey:
        if not kid or kid != self.kid:
            raise InvalidToken(f"kid {kid!r} names no published key")
        return self.key


class JwksKeySource:
    """The monolith's ``/api/auth/jwks/``, cached for ``cache_s``; a token must name its key."""

    def __init__(
        self,
        url: str,
        *,
        cache_s: float = JWKS_CACHE_S,
        min_refresh_s: float = JWKS_MIN_REFRESH_S,
        timeout_s: float = JWKS_TIMEOUT_S,
    ) -> None:
        self.url = url
        self.min_refresh_s = min_refresh_s
        self._client = jwt.PyJWKClient(
            url, cache_jwk_set=True, lifespan=int(cache_s), cache_keys=False, timeout=timeout_s
        )
        self._lock = threading.Lock()
        self._last_refresh = float("-inf")

    def _find(self, kid: str, *, refresh: bool) -> Ed25519PublicKey | None:
        try:
            keys = self._client.get_signing_keys(refresh=refresh)
        except jwt.PyJWKClientConnectionError as exc:
            logger.error("jwks %s unreachable: %s", self.url, exc)
            raise KeyUnavailable(str(exc)) from None
        except jwt.PyJWKClientError as exc:
            raise InvalidToken(f"jwks {self.url}: {exc}") from None
        for candidate in keys:
            if candidate.key_id == kid and isinstance(candidate.key, Ed25519PublicKey):
                return candidate.key
        return None

    def key_for(self, kid: str | None) -> Ed25519PublicKey:
        if not kid:
            raise InvalidToken("token names no kid")
        key = self._find(kid, refresh=False)
        if key is None:
            with self._lock:
                due = time.monotonic() - self._last_refresh >= self.min_refresh_s
                if due:
                    self._last_refresh = time.monotonic()
            if due:
                key = self._find(kid, refresh=True)
        if key is None:
            raise InvalidToken(f"no key {kid!r} in {self.url}")
        return key


class TokenVerifier:
    def __init__(self, keys: PublicKeySource, revocations: RevocationList | None = None) -> None:
        self.keys = keys
        self.revocations = revocations

    def verify(self, token: str) -> TokenClaims:
        """The claims of a valid token the monolith signed and did not revoke, or
        ``InvalidToken``; ``KeyUnavailable`` while what it takes to tell is not at hand."""
        claims = self._verified(token)
        if self.revocations is not None:
            if not self.revocations.loaded:
                raise KeyUnavailable("no revocation list loaded yet")
            if self.revocations.revoked(claims.sub, claims.iat):
                raise InvalidToken("revoked")
        return claims

    def _verified(self, token: str) -> TokenClaims:
        try:
            header = jwt.get_unverified_header(token)
            kid = header.get("kid")
            key = self.keys.key_for(kid if isinstance(kid, str) else None)
            decoded = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                issuer=ISSUER,
                leeway=LEEWAY_S,
                options={"require": list(REQUIRED_CLAIMS)},
            )
            return TokenClaims.model_validate(decoded)
        except (jwt.PyJWTError, ValidationError) as exc:
            raise InvalidToken(str(exc)) from None


@dataclass(frozen=True)
class Caller:
    """Who is calling, from the token's claims alone (the monolith's ``Principal``)."""

    id: uuid.UUID  # for a customer: the customer_id of their orders and payments
    username: str
    is_staff: bool

    @classmethod
    def from_claims(cls, claims: TokenClaims) -> Caller:
        return cls(id=claims.sub, username=claims.username, is_staff=claims.staff)


def authenticate(verifier: TokenVerifier, authorization: str | None) -> Caller:
    """The caller an ``Authorization`` header names, or the one 401."""
    if authorization is None:
        raise NotAuthenticated()
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        logger.info("refused credentials", extra={"reason": "not a bearer token"})
        raise NotAuthenticated()
    try:
        claims = verifier.verify(token.strip())
    except InvalidToken as exc:
        logger.info("refused credentials", extra={"reason": str(exc)})
        raise NotAuthenticated() from None
    return Caller.from_claims(claims)


def current_caller(request: Request) -> Caller:
    """FastAPI dependency: the verified caller (the app's ``state.token_verifier``)."""
    verifier: TokenVerifier = request.app.state.token_verifier
    given = request.headers.getlist("authorization")
    if len(given) > 1:
        logger.info("refused credentials", extra={"reason": "several Authorization headers"})
        raise NotAuthenticated()
    return authenticate(verifier, given[0] if given else None)


CurrentCaller = Annotated[Caller, Depends(current_caller)]


def customer_scope(caller: Caller) -> uuid.UUID | None:
    """The customer whose rows ``caller`` may see; ``None``: all rows (staff)."""
    return None if caller.is_staff else caller.id


def acting_customer(caller: Caller, requested: uuid.UUID | None) -> uuid.UUID:
    """The customer a write is for: a customer acts for themselves (naming another is a 403);
    staff must name the customer (a field error when they do not)."""
    if caller.is_staff:
        if requested is None:
            raise ValidationFailed({"customer_id": ["This field is required."]})
        return requested
    if requested is not None and requested != caller.id:
        raise ActingForOthers()
    return caller.id
