"""The outbox relay process: ``python -m sync.relay`` (the stack's ``relay``).

It reads the monolith's database only and publishes pending outbox events to the subscribers'
queue, by task name. Several may run at once: each batch locks its rows with ``FOR UPDATE SKIP
LOCKED`` (``monolith.outbox.relay.relay_batches``), so two relays never publish the same event in
one pass, and an event is marked published only after the broker took it.

It does not poll on PostgreSQL: it ``LISTEN``\\ s on the channel the outbox trigger notifies at
each commit (``monolith.outbox.notify``), drains every pending event, and blocks until the next
notification. A fallback pass every FALLBACK_S catches what a lost connection made it miss. On
SQLite (no notifications) it polls every SQLITE_POLL_S.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable
from typing import Any, Final

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "monolith.settings")
django.setup()

import psycopg  # noqa: E402
from celery import Celery  # noqa: E402
from django.db import DatabaseError, close_old_connections  # noqa: E402
from kombu.exceptions import KombuError  # noqa: E402

from monolith.outbox.notify import OutboxListener, notifications_supported  # noqa: E402
from monolith.outbox.relay import relay_batches  # noqa: E402
from sync.celery_app import make_celery  # noqa: E402
from sync.event_batches import pack  # noqa: E402
from sync.task_names import EVENT_BATCH_TASKS, RELAYED_AGGREGATES  # noqa: E402

logger = logging.getLogger("sync.relay")

#: Events per relay transaction; a drain keeps going while batches come back full.
BATCH: Final = 500
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
                app.send_task(task, args=[chunk], producer=producer)

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

    def wait(self) -> None:
        if not self.notifying:
            time.sleep(SQLITE_POLL_S)
            return
        try:
            if self._listener is None:
                # Listening starts before the pass that follows, so a commit during that pass
                # still wakes the next wait.
                self._listener = OutboxListener()
                return
            self._listener.wait(FALLBACK_S)
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


def run(*, stop: Callable[[], bool] = lambda: False) -> None:
    """Relay until ``stop()`` says so (or the process is signalled)."""
    app = make_celery("relay")
    waker = Waker()
    how = "LISTEN/NOTIFY" if waker.notifying else f"polling every {SQLITE_POLL_S:g} s"
    try:
        waker.wait()  # PostgreSQL: LISTEN first, then the first pass
        logger.info("relay: ready, waking on %s", how)
        while not stop():
            try:
                close_old_connections()
                published = drain(app)
                if published:
                    logger.info("relay: published %d outbox event(s)", published)
            except (KombuError, OSError) as err:
                logger.error("relay: the broker refused the batch (%s); nothing marked", err)
                time.sleep(ERROR_BACKOFF_S)
                continue
            except DatabaseError as err:
                logger.error("relay: the monolith database failed (%s); retrying", err)
                time.sleep(ERROR_BACKOFF_S)
                continue
            waker.wait()
    finally:
        waker.close()


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(0)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    with contextlib.suppress(KeyboardInterrupt):
        run()


if __name__ == "__main__":
    main()
