"""The outbox relay, run by the relay process (``python -m sync.relay``, the stack's ``relay``)
and by the monolith worker's on-demand pass. Its importer has set Django up (the monolith's
models are read here).

It reads the monolith's database only and publishes pending outbox events to the subscribers'
queues, by task name: each capability's events, several to a message, to its batch task
(``sync.task_names.EVENT_BATCH_TASKS``: ``inventory.apply_events``, ``payments.apply_events``,
``orders.apply_events``, one queue each). Several may run at once: each batch locks its rows with
``FOR UPDATE SKIP LOCKED`` (``monolith.outbox.relay.relay_batches``), so two relays never publish
the same event in one pass, and an event is marked published only after the broker took it.

On PostgreSQL an idle relay does not poll: it ``LISTEN``\\ s on the channel the outbox trigger
notifies (``monolith.outbox.notify``) and blocks until a commit wakes it. Awake, it drains every
pending event and polls every AWAKE_POLL_S until AWAKE_FOR_S pass without an event; writers do
not notify meanwhile (a NOTIFY serialises every writer's commit on a database-wide lock, and
would wake the relay for one or two events at a time: the outbox's migration 0003). A fallback pass
every FALLBACK_S catches what a lost connection made it miss. On SQLite (no notifications) it
polls every SQLITE_POLL_S.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from typing import Any, Final

from celery import Celery
from django.db import DatabaseError, close_old_connections
from kombu.exceptions import KombuError

from monolith.outbox.notify import OutboxListener, notifications_supported
from monolith.outbox.relay import relay_batches
from sync.celery_app import make_celery
from sync.event_batches import args_summary, pack
from sync.task_names import EVENT_BATCH_TASKS, RELAYED_AGGREGATES

logger = logging.getLogger("sync.relay")

#: Events per relay transaction; a drain keeps going while batches come back full.
BATCH: Final = 500
#: On PostgreSQL, while events keep coming: a pass this often (writers do not notify a relay that
#: is awake). What it adds to the lag at most; each pass takes what came since the last one.
AWAKE_POLL_S: Final = float(os.environ.get("STRANGLER_RELAY_AWAKE_POLL_S", "0.02"))
#: ... and asleep (writers notify again) after this long without an event.
AWAKE_FOR_S: Final = float(os.environ.get("STRANGLER_RELAY_AWAKE_S", "0.5"))
#: On PostgreSQL: a pass without a notification this often (a safety net, not the trigger).
FALLBACK_S: Final = float(os.environ.get("STRANGLER_RELAY_FALLBACK_S", "5"))
#: On SQLite: how often to look for pending events (nothing can wake the relay there).
SQLITE_POLL_S: Final = float(os.environ.get("STRANGLER_RELAY_POLL_S", "0.5"))
#: After the broker or the database failed: wait this long before the next try.
ERROR_BACKOFF_S: Final = 1.0


def drain(app: Celery, *, limit: int = BATCH) -> int:
    """Publish pending events until a batch comes back short; how many were published.

    A batch goes out as few messages: one per capability and ``sync.event_batches.
    ENVELOPES_PER_MESSAGE`` envelopes (``pack``), to that capability's batch task.
    ``send_task`` returns once the broker has the message (Redis: the LPUSH reply; AMQP: the
    publisher confirm, see celery_app) and raises when it cannot deliver: then the exception
    propagates out of ``relay_batches``'s transaction and nothing of that batch is marked.
    """
    total = 0
    # One producer (one broker connection) for the whole drain instead of one per message.
    with app.producer_or_acquire() as producer:

        def publish(envelopes: list[dict[str, Any]]) -> None:
            for task, chunk in pack(envelopes, EVENT_BATCH_TASKS):
                app.send_task(task, args=[chunk], producer=producer, argsrepr=args_summary(chunk))

        while True:
            published = relay_batches(publish, limit=limit, aggregate_types=RELAYED_AGGREGATES)
            total += published
            if published < limit:
                return total


class Waker:
    """What the loop blocks on between passes: notifications on PostgreSQL, a timer on SQLite."""

    def __init__(self) -> None:
        self._listener: OutboxListener | None = None
        self.notifying = notifications_supported()

    def listen(self) -> None:
        """PostgreSQL: LISTEN (again, after a lost connection). Failures are logged and left to
        the next ``sleep`` to retry."""
        if not self.notifying or self._listener is not None:
            return
        import psycopg  # PostgreSQL only: a relay polling SQLite never loads the driver

        try:
            self._listener = OutboxListener()
        except psycopg.Error as err:
            logger.warning("relay: cannot listen for notifications (%s); retrying", err)
            time.sleep(ERROR_BACKOFF_S)

    def sleep(self, final_pass: Callable[[], int | None]) -> None:
        """Block until there may be new events.

        SQLite: SQLITE_POLL_S. PostgreSQL: register as a sleeper (writers start notifying; this
        waits for writes in flight that saw no sleeper), make ``final_pass`` for what they and
        anyone before them committed, and unless it published something (or failed: None), wait
        for a notification (FALLBACK_S at most). Awake again, unregister (writers stop
        notifying while this relay polls).
        """
        if not self.notifying:
            time.sleep(SQLITE_POLL_S)
            return
        import psycopg

        if self._listener is None:
            self.listen()  # lost: a pass follows right after reconnecting
            return
        try:
            self._listener.register_sleeper()
            try:
                if final_pass() == 0:
                    self._listener.wait(FALLBACK_S)
            finally:
                self._listener.unregister_sleeper()
        except psycopg.Error as err:
            logger.warning("relay: lost the notification connection (%s); reconnecting", err)
            self.close()
            time.sleep(ERROR_BACKOFF_S)

    def close(self) -> None:
        if self._listener is not None:
            try:
                self._listener.close()
            finally:
                self._listener = None


def relay_pass(app: Celery) -> int | None:
    """One ``drain``, its failures logged (and waited out): how many were published, or None
    when the broker or the database failed (nothing of that batch is marked)."""
    try:
        close_old_connections()
        published = drain(app)
    except (KombuError, OSError) as err:
        logger.error("relay: the broker refused the batch (%s); nothing marked", err)
        time.sleep(ERROR_BACKOFF_S)
        return None
    except DatabaseError as err:
        logger.error("relay: the monolith database failed (%s); retrying", err)
        time.sleep(ERROR_BACKOFF_S)
        return None
    if published:
        logger.debug("relay: published %d outbox event(s)", published)
    return published


def run(*, stop: Callable[[], bool] = lambda: False) -> None:
    """Relay until ``stop()`` says so (or the process is signalled).

    Awake, the relay makes a pass every AWAKE_POLL_S; after AWAKE_FOR_S without an event (or a
    failure) it sleeps until notified (``Waker.sleep``). While events keep coming, writers never
    notify (see the outbox's migration 0003) and each pass takes what came since the last one.
    """
    app = make_celery("relay")
    waker = Waker()
    how = "LISTEN/NOTIFY" if waker.notifying else f"polling every {SQLITE_POLL_S:g} s"
    try:
        waker.listen()  # PostgreSQL: LISTEN first, then the first pass
        logger.info("relay: ready, waking on %s", how)
        last_work = time.monotonic()
        while not stop():
            if relay_pass(app) != 0:
                last_work = time.monotonic()
            if waker.notifying and time.monotonic() - last_work < AWAKE_FOR_S:
                time.sleep(AWAKE_POLL_S)  # the polling interval itself, not a wait for a condition
                continue
            waker.sleep(lambda: relay_pass(app))
            last_work = time.monotonic()
    finally:
        waker.close()
