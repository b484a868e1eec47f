"""Callers of the owners' APIs for tests: the ``Authorization`` header of a staff account (every
inventory write needs one: a staff user or a service account; docs/inventory-api.md, "Who may
call"), of a customer, and of the tokens no owner takes (expired, forged).

Tokens are the monolith's own (``token_issue``) for an account it never saves: every owner reads
the caller from the token alone. They are signed with the key pair the test process's settings name
(the in-process owners' keys), or, within ``stack_keys(env)`` (``stack_staff_headers(env)``,
``stack_caller_headers(env)``), with the pair of the stack started with ``env``: its key files,
made now by the monolith's own race-safe code when its processes have not made them yet, so the
stack then signs with the same pair. Tokens live as long as any may (``MAX_LIFETIME_S``), so a
long test never sees one expire.
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from django.test import override_settings

from contracts.tokens import MAX_LIFETIME_S
from monolith.identity.models import User
from monolith.identity.tokens import token_issue
from tests.support.random_refs import random_suffix


def caller_token(*, staff: bool, ttl_s: int = MAX_LIFETIME_S, now: float | None = None) -> str:
    """A token of a new account (staff or a customer), signed with this process's key pair."""
    account = User(username=f"{'staff' if staff else 'customer'}-{random_suffix()}", is_staff=staff)
    return token_issue(user=account, ttl_s=ttl_s, now=now).access_token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def caller_headers(*, staff: bool) -> dict[str, str]:
    return bearer(caller_token(staff=staff))


def staff_headers() -> dict[str, str]:
    return caller_headers(staff=True)


def expired_staff_token() -> str:
    """A staff token that expired an hour ago (well past every owner's leeway)."""
    return caller_token(staff=True, ttl_s=60, now=time.time() - 3600)


def forged_staff_token() -> str:
    """A customer's genuine token with its claims rewritten to staff: the signature no longer
    matches what it signs."""
    header, payload, signature = caller_token(staff=False).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["staff"] = True
    raw = json.dumps(claims, separators=(",", ":")).encode()
    forged = base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")
    return f"{header}.{forged}.{signature}"


def stack_key_files(env: Mapping[str, str]) -> tuple[Path, Path]:
    """The private and public key files of the monolith started with ``env`` (its settings'
    rule: the explicit files, else ``$STRANGLER_VAR_DIR/keys``)."""
    keys = Path(env.get("STRANGLER_VAR_DIR", "var")).resolve() / "keys"
    private = env.get("STRANGLER_JWT_PRIVATE_KEY_FILE") or keys / "jwt-private.pem"
    public = env.get("STRANGLER_JWT_PUBLIC_KEY_FILE") or keys / "jwt-public.pem"
    return Path(private), Path(public)


@contextmanager
def stack_keys(env: Mapping[str, str] | None = None) -> Iterator[None]:
    """Within it, this module signs with the key pair of the stack started with ``env``
    (default: this process's environment)."""
    private, public = stack_key_files(os.environ if env is None else env)
    with override_settings(JWT_PRIVATE_KEY_FILE=private, JWT_PUBLIC_KEY_FILE=public):
        yield


def stack_caller_headers(env: Mapping[str, str] | None = None, *, staff: bool) -> dict[str, str]:
    """The header of a new caller of the stack started with ``env``."""
    with stack_keys(env):
        return caller_headers(staff=staff)


def stack_staff_headers(env: Mapping[str, str] | None = None) -> dict[str, str]:
    return stack_caller_headers(env, staff=True)
