"""Waking the relay: the channel the outbox trigger notifies (migrations 0002, 0003) and a waiter
that blocks on it.

The trigger notifies only while a relay is registered as sleeping (migration 0003 says why): a
relay registers (``OutboxListener.register_sleeper``), makes one more pass, waits, and
unregisters when it wakes; while awake it polls.

PostgreSQL only. On SQLite there is no notification: ``wait_for_events`` is never built and the
relay falls back to polling (``sync/outbox_relay.py``).
"""

from __future__ import annotations

from typing import Final

from django.db import connection

#: The channel ``outbox_notify_pending()`` sends to after each insert into the outbox.
CHANNEL: Final = "strangler_outbox"
#: One row (id 1): the backend pids of the relays' listening connections while they sleep.
SLEEPERS_TABLE: Final = "outbox_relay_sleepers"

# Drop pids whose backend is gone (a relay killed while asleep), then add this one; the row is
# locked first, which waits for every writer that read it (the trigger's FOR KEY SHARE).
_LOCK = f"SELECT pids FROM {SLEEPERS_TABLE} WHERE id = 1 FOR UPDATE"
_REGISTER = f"""
UPDATE {SLEEPERS_TABLE}
SET pids = array_append(
    ARRAY(
        SELECT p FROM unnest(pids) AS p
        WHERE p <> pg_backend_pid() AND p IN (SELECT pid FROM pg_stat_activity)
    ),
    pg_backend_pid()
)
WHERE id = 1
"""
_UNREGISTER = (
    f"UPDATE {SLEEPERS_TABLE} SET pids = array_remove(pids, pg_backend_pid()) WHERE id = 1"
)


def notifications_supported() -> bool:
    return connection.vendor == "postgresql"


class OutboxListener:
    """One dedicated autocommit connection that ``LISTEN``\\ s on CHANNEL.

    Not Django's connection: a connection inside Django's transaction handling would receive
    notifications only between its own statements, and ``LISTEN`` needs autocommit to take effect
    at once. Built from Django's own connection parameters, so it reaches the same database.
    """

    def __init__(self) -> None:
        import psycopg  # PostgreSQL only: on SQLite no process loads the driver for this

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

    def register_sleeper(self) -> None:
        """From now on writers notify. Returns once every write that saw no sleeper committed
        (or rolled back): a pass made after this finds their events."""
        with self._conn.transaction():
            self._conn.execute(_LOCK)
            self._conn.execute(_REGISTER)

    def unregister_sleeper(self) -> None:
        """Awake: writers stop notifying (unless another relay sleeps); this relay polls."""
        self._conn.execute(_UNREGISTER)

    def close(self) -> None:
        self._conn.close()
