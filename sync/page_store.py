"""Backfill pages kept beside their messages in the broker's Redis (a "claim check").

A page of COPY text can be megabytes. Inside a Celery message it is encoded as a JSON string on one
side and decoded on the other, which costs each worker CPU on the scale of writing the rows. Kept as
plain bytes under a key of its own, the message carries only the key: the monolith worker stores the
bytes its ``COPY ... TO STDOUT`` wrote, the inventory worker hands the bytes it reads to
``COPY ... FROM STDIN``, and neither builds a Python string of the page.

A page outlives its message by design: it expires after twice the broker's visibility
timeout (longer than any message can wait for its retries and redelivery), and the inventory
side deletes it once the page is applied or dropped. A message whose page is gone (expired, or
deleted after a crash between commit and ack) asks for the page again, which the checkpoint
then takes or drops like any other copy.

Only with a Redis broker; with the embedded filesystem transport (or any other broker) pages
travel inside their messages (``store_for`` returns None), and the Redis client, some 20 MiB of
imports, is never loaded.
"""

from __future__ import annotations

import uuid
from typing import Final

from sync.settings import SyncSettings

#: Redis key prefix of stored pages (after the deployment's queue prefix).
KEY_PREFIX: Final = "backfill-page:"


def transient_store_errors(settings: SyncSettings) -> tuple[type[Exception], ...]:
    """What the tasks that store or fetch pages retry on: Redis going away for a moment; nothing
    when pages travel inline."""
    if _redis_url(settings) is None:
        return ()
    import redis

    return (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


class PageStore:
    def __init__(self, url: str, queue_prefix: str, ttl_s: int) -> None:
        import redis

        self._redis = redis.Redis.from_url(url, socket_connect_timeout=5)
        self._prefix = f"{queue_prefix}{KEY_PREFIX}"
        self._ttl_s = ttl_s

    def put(self, page: bytes) -> str:
        """Store ``page``; the key its message carries."""
        key = f"{self._prefix}{uuid.uuid4().hex}"
        self._redis.set(key, page, ex=self._ttl_s)
        return key

    def get(self, key: str) -> bytes | None:
        """The page under ``key``, or None when it is gone."""
        if not key.startswith(self._prefix):
            raise ValueError(f"not a backfill page key of this deployment: {key!r}")
        page = self._redis.get(key)
        assert page is None or isinstance(page, bytes)
        return page

    def delete(self, key: str) -> None:
        self._redis.delete(key)


_stores: dict[tuple[str, str], PageStore] = {}


def store_for(settings: SyncSettings) -> PageStore | None:
    """The page store of the configured broker (one per process), or None: pages travel inline."""
    url = _redis_url(settings)
    if url is None:
        return None
    key = (url, settings.queue_prefix)
    if key not in _stores:
        _stores[key] = PageStore(url, settings.queue_prefix, 2 * settings.visibility_timeout_s)
    return _stores[key]


def _redis_url(settings: SyncSettings) -> str | None:
    """The broker's URL when it is Redis (pages are kept there), else None."""
    url = settings.broker_url
    if settings.embedded_broker or url is None or not url.startswith(("redis://", "rediss://")):
        return None
    return url
