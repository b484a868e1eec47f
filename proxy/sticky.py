"""Canary stickiness: which key a request carries, and which of 10,000 buckets that key is in.

The bucket is a stable hash of (route name, key), so a key keeps its bucket across restarts and
processes, and a route's canary admits keys with ``bucket < percent * 100``: raising the percent
only adds keys, lowering it only removes them.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping

BUCKETS = 10_000


def bucket_of(route_name: str, key: str) -> int:
    """The key's bucket in ``[0, BUCKETS)`` for this route (blake2b: stable and fast)."""
    digest = hashlib.blake2b(f"{route_name}\x00{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % BUCKETS


def in_canary(bucket: int, percent: float) -> bool:
    return bucket < round(percent * 100)


def jwt_subject(authorization: str | None) -> str | None:
    """The ``sub`` claim of a Bearer JWT, read *without* verifying it: it only picks a bucket."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer":
        return None
    parts = token.strip().split(".")
    if len(parts) != 3:
        return None
    payload = parts[1]
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (ValueError, UnicodeDecodeError):
        return None
    sub = claims.get("sub") if isinstance(claims, dict) else None
    return str(sub) if isinstance(sub, str | int) and str(sub) else None


def cookie_value(cookie_header: str | None, name: str) -> str | None:
    """One cookie's value from a ``Cookie`` header (``a=1; b=2``)."""
    if not cookie_header:
        return None
    for part in cookie_header.split(";"):
        key, sep, value = part.strip().partition("=")
        if sep and key == name:
            return value.strip().strip('"') or None
    return None


def sticky_key(sticky: str, headers: Mapping[str, str], client_addr: str) -> tuple[str, str]:
    """``(key, source)`` for a request; a missing key falls back to the client address.

    ``headers`` must be case-insensitive (a multidict or an equivalent mapping).
    """
    kind, _, arg = sticky.partition(":")
    value: str | None = None
    if kind == "jwt" and arg == "sub":
        value = jwt_subject(headers.get("Authorization"))
    elif kind == "header":
        value = headers.get(arg) or None
    elif kind == "cookie":
        value = cookie_value(headers.get("Cookie"), arg)
    if value is None:
        return client_addr, "client:addr" if sticky == "client:addr" else "client:addr (fallback)"
    return value, sticky
