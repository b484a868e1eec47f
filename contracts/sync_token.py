"""The sync token: the one shared secret of the owners' internal HTTP (``/internal/...``, never
forwarded by the proxy), and the one rule of which internal requests need it.

**The rule.** A request to an internal endpoint with a safe method (``GET``, ``HEAD``,
``OPTIONS``) is open; every other method (``POST``, ``PUT``, ...) needs
``Authorization: Bearer <token>``. That covers every internal request that changes state
(direction changes, dead-letter replays, reconciliation's repair and run records) and also the
``POST`` reads (reconciliation's bounds, checksums, rows and states, ``/internal/sync/processed``):
each of those computes over a whole table, so an open one is a cheap way to load an owner's
database, and all their callers (`strangler sync ...`, the plan walker) hold the token anyway.
A rule by method is one line to state and to check: the structural test in ``tests/security/``
enumerates every internal route of every owner and proves it.

**The answers** (the same on the monolith and on every service, ``sync_token_refusal``):
without the token or with a wrong one, 401 with the contract's one body of a refused credential
(``contracts.tokens.UNAUTHENTICATED_BODY``) and ``WWW-Authenticate``; when the owner has no token
configured at all, 403 ``permission_denied`` (nobody can do it, so nothing changes by accident).
The comparison is constant-time (``hmac.compare_digest``).

**Where the token comes from**: ``STRANGLER_SYNC_TOKEN``, else the file
``$STRANGLER_VAR_DIR/sync-token`` that `strangler up` writes (owner-only).
"""

from __future__ import annotations

import hmac
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from contracts.tokens import UNAUTHENTICATED_BODY, WWW_AUTHENTICATE

#: Environment variable holding the bearer token of the internal endpoints.
SYNC_TOKEN_ENV: Final = "STRANGLER_SYNC_TOKEN"
#: ... else this file under ``$STRANGLER_VAR_DIR`` (written by `strangler up`).
SYNC_TOKEN_FILE: Final = "sync-token"
#: The methods an internal endpoint answers without the token (RFC 9110's safe methods).
OPEN_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
#: The one line a caller prints when it has no token to send.
MISSING_SYNC_TOKEN: Final = (
    f"no sync token: set {SYNC_TOKEN_ENV} (or $STRANGLER_VAR_DIR/{SYNC_TOKEN_FILE}, "
    "which `strangler up` writes)"
)


def sync_token() -> str | None:
    """``STRANGLER_SYNC_TOKEN``, else ``$STRANGLER_VAR_DIR/sync-token``; None when neither is
    set (then an owner refuses every internal request that needs it, and a caller cannot send
    one)."""
    # The literal, not SYNC_TOKEN_ENV: the compose check finds the variables read by their name.
    value = os.environ.get("STRANGLER_SYNC_TOKEN", "").strip()
    if value:
        return value
    var = Path(os.environ.get("STRANGLER_VAR_DIR", "var"))
    try:
        return (var / SYNC_TOKEN_FILE).read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def needs_sync_token(method: str) -> bool:
    """Whether an internal request with this HTTP method needs the token (the rule above)."""
    return method.upper() not in OPEN_METHODS


def bearer(token: str) -> dict[str, str]:
    """The header a caller sends with ``token``."""
    return {"Authorization": f"Bearer {token}"}


@dataclass(frozen=True)
class Refusal:
    """How an owner answers a request that needs the token and does not carry the right one."""

    status: int
    error: str
    detail: str
    headers: dict[str, str] = field(default_factory=dict)


#: Without the token, or with another one: the contract's one 401 (a caller learns nothing).
NOT_AUTHENTICATED: Final = Refusal(
    401,
    UNAUTHENTICATED_BODY["error"],
    UNAUTHENTICATED_BODY["detail"],
    {"WWW-Authenticate": WWW_AUTHENTICATE},
)
#: The owner has no token configured: nobody may make these requests.
NOT_CONFIGURED: Final = Refusal(
    403,
    "permission_denied",
    f"Internal writes are disabled here: no {SYNC_TOKEN_ENV} is configured.",
)


def sync_token_refusal(authorization: str | None) -> Refusal | None:
    """None when ``authorization`` (the request's ``Authorization`` header) carries this
    owner's sync token; else the refusal to answer with."""
    expected = sync_token()
    if expected is None:
        return NOT_CONFIGURED
    scheme, _, given = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        given.strip().encode(), expected.encode()
    ):
        return NOT_AUTHENTICATED
    return None
