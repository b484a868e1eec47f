"""Waking the relay: the channel the outbox trigger notifies (migration 0002) and a waiter that
blocks on it.

PostgreSQL only. On SQLite there is no notification: ``wait_for_events`` is never built and the
relay falls back to polling (``sync/relay.py``).
"""

from __future__ import annotations

from typing import Final

import psycopg
from django.db import connection

#: The channel ``outbox_notify_pending()`` sends to after each insert into the outbox.
CHANNEL: Final = "strangler_outbox"


def notifications_supported() -> bool:
    return connection.vendor == "postgresql"


class OutboxListener:
    """One dedicated autocommit connection that ``LISTEN``\\ s on CHANNEL.

    Not Django's connection: a connection inside Django's transaction handling would receive
    notifications only between its own statements, and ``LISTEN`` needs autocommit to take effect
    at once. Built from Django's own connection parameters, so it reaches the same database.
    """

    def __init__(self) -> None:
        params = connection.get_connection_params()
        params.pop("cursor_factory", None)
        params.pop("context", None)
        self._conn = psycopg.connect(**params, autocommit=True)
        self._conn.execute(f"LISTEN {CHANNEL}")

    def wait(self, timeout_s: float) -> bool:
        """Block until a notification arrives (True) or ``timeout_s`` passes (False); drains
        every notification already queued, so a burst of commits wakes the relay once."""
        woke = False
        for _ in self._conn.notifies(timeout=timeout_s):
            woke = True
            break
        if woke:
            # Whatever else is already queued belongs to the same wake-up.
            for _ in self._conn.notifies(timeout=0):
                pass
        return woke

    def close(self) -> None:
        self._conn.close()
