"""Canary stickiness: which key a request carries, and which of 10,000 buckets that key is in.

The bucket is nginx's ``split_clients`` arithmetic, so nginx (and an Envoy Lua filter) computes
the same one from an exported route table (proxy/export_nginx.py): the 32-bit MurmurHash2 of
``"<route name>:<key>"`` compared against ``percent * 100 * 0xffffffff // 10000``. A key keeps
its bucket across restarts, processes and engines, and a route's canary admits keys with
``bucket < percent * 100``: raising the percent only adds keys, lowering it only removes them.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from functools import lru_cache

BUCKETS = 10_000
#: Between the route name and the key in the hashed text (a route name never contains one).
SEPARATOR = ":"
_M = 0x5BD1E995
_MASK = 0xFFFFFFFF


def murmur_hash2(data: bytes) -> int:
    """nginx's ``ngx_murmur_hash2`` (src/core/ngx_murmurhash.c): MurmurHash2, 32 bits, seed 0
    mixed with the length. Written here because no maintained package implements MurmurHash2
    (mmh3 is MurmurHash3, which gives other values)."""
    length = len(data)
    h = length & _MASK
    tail = length - length % 4
    for i in range(0, tail, 4):
        k = (int.from_bytes(data[i : i + 4], "little") * _M) & _MASK
        k ^= k >> 24
        k = (k * _M) & _MASK
        h = ((h * _M) & _MASK) ^ k
    rest = length - tail
    if rest:
        if rest == 3:
            h ^= data[tail + 2] << 16
        if rest >= 2:
            h ^= data[tail + 1] << 8
        h = ((h ^ data[tail]) * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    return h ^ (h >> 15)


def hashed_text(route_name: str, key: str) -> bytes:
    """What is hashed: ``<route>:<key>``, the key's bytes as they arrived (headers are latin-1
    on the wire; a JWT subject beyond latin-1 is UTF-8)."""
    text = f"{route_name}{SEPARATOR}{key}"
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8")


def bucket_of_hash(value: int) -> int:
    """The bucket of a 32-bit hash: the smallest ``b`` such that nginx's ``split_clients`` puts
    the hash in a ``(b + 1) / 100`` percent part, minus one. nginx admits a hash at ``p``
    hundredths of a percent when ``hash < p * 0xffffffff // 10000`` (or ``p`` is 10000); that
    holds exactly when ``p >= ceil((hash + 1) * 10000 / 0xffffffff)``."""
    first = -(-(value + 1) * BUCKETS // _MASK)
    return min(first, BUCKETS) - 1


@lru_cache(maxsize=65_536)
def bucket_of(route_name: str, key: str) -> int:
    """The key's bucket in ``[0, BUCKETS)`` for this route (cached: keys repeat)."""
    return bucket_of_hash(murmur_hash2(hashed_text(route_name, key)))


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
