"""DRF authentication by ``Authorization: Bearer <token>``.

Every refusal (no header, another scheme, a malformed, expired, wrongly signed, ``alg=none``,
tampered or revoked token) ends as the same 401 body (``contracts.tokens.UNAUTHENTICATED_BODY``,
written by the exception handler); the reason goes to the log only. Revocation is checked on
every request against the monolith's own table (``contracts.revocations``), so it applies here
at once.
"""

from __future__ import annotations

import logging

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.views import APIView

from contracts.tokens import WWW_AUTHENTICATE, TokenClaims
from monolith.identity.principal import Principal
from monolith.identity.revocation import token_revoked
from monolith.identity.tokens import InvalidToken, token_verify

logger = logging.getLogger(__name__)


class BearerTokenAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[Principal, TokenClaims] | None:
        header = request.META.get("HTTP_AUTHORIZATION")
        if header is None:
            return None  # the permission check answers 401
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            logger.info("refused credentials", extra={"reason": "not a bearer token"})
            raise exceptions.NotAuthenticated()
        try:
            claims = token_verify(token.strip())
        except InvalidToken as exc:
            logger.info("refused credentials", extra={"reason": str(exc)})
            raise exceptions.NotAuthenticated() from None
        if token_revoked(claims):
            logger.info("refused credentials", extra={"reason": "revoked"})
            raise exceptions.NotAuthenticated()
        return Principal.from_claims(claims), claims

    def authenticate_header(self, request: Request) -> str:
        return WWW_AUTHENTICATE


class AuthenticatedApi(APIView):
    """Base of every API that needs a caller: a bearer token, nothing else."""

    authentication_classes = [BearerTokenAuthentication]
    permission_classes = [IsAuthenticated]

    @property
    def principal(self) -> Principal:
        user = self.request.user
        assert isinstance(user, Principal)
        return user
