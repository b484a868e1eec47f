"""Throttles of the token endpoint, the one place a password is tried: per client address and per
username, so neither one address trying many accounts nor many addresses trying one account
gets more than a few guesses a minute. A refusal is the contract's 429 ``throttled`` with
``Retry-After`` (the exception handler writes both).

DRF's ``SimpleRateThrottle`` over Django's default cache: a file cache under the var folder
(``settings.CACHES``), which every gunicorn worker of the monolith shares without a server. The
client address is DRF's ``get_ident``: the last ``X-Forwarded-For`` entry when the monolith sits
behind ``REST_FRAMEWORK["NUM_PROXIES"]`` proxies (the stack's proxy replaces that header with the
peer's address), else the peer's address.
"""

from __future__ import annotations

from collections.abc import Mapping

from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView


class TokenClientThrottle(SimpleRateThrottle):
    scope = "token_client"

    def get_cache_key(self, request: Request, view: APIView) -> str | None:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class TokenUserThrottle(SimpleRateThrottle):
    scope = "token_user"

    def get_cache_key(self, request: Request, view: APIView) -> str | None:
        # Reading the body here parses it: a body past the limits is its 400 before anything.
        data = request.data
        username = data.get("username") if isinstance(data, Mapping) else None
        if not isinstance(username, str) or not username.strip():
            return None  # the serializer refuses it; nothing to count against
        ident = username.strip()[:150].encode("utf-8").hex()  # a safe cache key of any text
        return self.cache_format % {"scope": self.scope, "ident": ident}
