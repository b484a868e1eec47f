"""The reverse relay process: ``python -m sync.service_relay inventory payments orders`` (the
stack's ``relay-services``), or one capability (``python -m sync.service_relay inventory``).

For each capability named it reads that service's database only (never the monolith's) and
publishes the service's pending own-outbox events to the monolith's queue as
``monolith.apply_events`` tasks, several events per message (``sync.event_batches.pack``: at most
``ENVELOPES_PER_MESSAGE`` each), in batches (``extracted.chassis.sync.outbox_relay.relay_batches``:
``FOR UPDATE SKIP LOCKED``, marked published only after the broker took every message of the
batch), so several may run at once. Only events the service wrote while it was the source are
pending; the others are born ``skipped``.

Each capability is relayed by a thread of its own, with its own database sessions, notification
connection and Celery app, so one service's database being down holds up no other. One process
relays the three in the stack because a relay process costs mostly its imports (SQLAlchemy,
Celery), which the three share. A thread that dies of anything unforeseen ends the process
(exit 1), so its supervisor restarts all of it rather than leaving a capability unrelayed.

Once the capability is **retired** (the cord is cut, ``sync.control.direction``), the service
records every event ``skipped`` (``extracted.chassis.sync.direction``): the relay never sees them
and has nothing to send, and nothing is dead-lettered. The choice is made when the event is
written, under the direction row's lock, not here: the relay reads no direction, so it cannot
race the cut, and the events written before it are still sent (the switch drains them into the
monolith before freezing it). A relay left running after the cut idles; stopping it is safe.

Waking: on PostgreSQL it ``LISTEN``\\ s on the channel the service's outbox trigger notifies at
each commit (Alembic ``0004_reverse_sync`` for inventory, ``0005_reverse_sync`` for payments and
orders), like the forward relay: no busy polling, and the lag is the commit's, not a poll
interval's. A fallback pass every FALLBACK_S catches what a lost connection missed. On SQLite
(no notifications) it polls every SQLITE_POLL_S.

Coalescing: after a pass that published something, the next pass comes COALESCE_S later instead
of at the next notification, so while events keep coming each message carries what committed in
that time (the monolith pays per message more than per event).
An event after a quiet spell still goes out at once.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from celery import Celery
from kombu.exceptions import KombuError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from contracts.events import Capability
from extracted.chassis.sync.outbox_relay import RelayedOutbox, relay_batches
from sync.celery_app import make_celery
from sync.event_batches import args_summary, pack
from sync.task_names import task_name

if TYPE_CHECKING:
    import psycopg

logger = logging.getLogger("sync.service_relay")

BATCH: Final = 500
FALLBACK_S: Final = float(os.environ.get("STRANGLER_RELAY_FALLBACK_S", "5"))
SQLITE_POLL_S: Final = float(os.environ.get("STRANGLER_RELAY_POLL_S", "0.5"))
ERROR_BACKOFF_S: Final = 1.0
#: After a pass that published: wait this long before the next (0: at the next notification).
COALESCE_S: Final = float(os.environ.get("STRANGLER_REVERSE_RELAY_COALESCE_S", "0.05"))


@dataclass(frozen=True)
class ServiceOutbox:
    """What the relay needs of one service: its database, its outbox table, its channel."""

    capability: Capability
    database_url: str
    sessions: sessionmaker[Session]
    model: type[RelayedOutbox]
    channel: str


def inventory_outbox() -> ServiceOutbox:
    from extracted.inventory.config import InventorySettings
    from extracted.inventory.models import OutboxEvent
    from extracted.inventory.outbox import NOTIFY_CHANNEL
    from extracted.inventory.wiring import sessions_for

    url = InventorySettings().database_url
    return ServiceOutbox("inventory", url, sessions_for(url), OutboxEvent, NOTIFY_CHANNEL)


def payments_outbox() -> ServiceOutbox:
    from extracted.payments.config import PaymentsSettings
    from extracted.payments.models import OutboxEvent
    from extracted.payments.outbox import NOTIFY_CHANNEL
    from extracted.payments.wiring import sessions_for

    url = PaymentsSettings().database_url
    return ServiceOutbox("payments", url, sessions_for(url), OutboxEvent, NOTIFY_CHANNEL)


def orders_outbox() -> ServiceOutbox:
    from extracted.orders.config import OrdersSettings
    from extracted.orders.models import OutboxEvent
    from extracted.orders.outbox import NOTIFY_CHANNEL
    from extracted.orders.wiring import sessions_for

    url = OrdersSettings().database_url
    return ServiceOutbox("orders", url, sessions_for(url), OutboxEvent, NOTIFY_CHANNEL)


#: The services whose outbox flows back, each read from its own database only. The imports wait
#: until one is chosen, so a relay loads the code of the services it relays and no other.
SERVICES: Final[dict[str, Callable[[], ServiceOutbox]]] = {
    "inventory": inventory_outbox,
    "payments": payments_outbox,
    "orders": orders_outbox,
}


def drain(app: Celery, service: ServiceOutbox, *, limit: int = BATCH) -> int:
    """Publish pending events until a batch comes back short; how many were published.

    A batch goes out as few ``monolith.apply_events`` messages (``pack``: the monolith applies
    each in one transaction). ``send_task`` returns once the broker has the message and raises
    when it cannot deliver: then nothing of that batch is marked published."""
    tasks: dict[Capability, str] = {service.capability: task_name("monolith", "apply_events")}
    total = 0
    with app.producer_or_acquire() as producer:

        def publish(envelopes: list[dict[str, Any]]) -> None:
            for task, chunk in pack(envelopes, tasks):
                app.send_task(task, args=[chunk], producer=producer, argsrepr=args_summary(chunk))

        while True:
            published = relay_batches(service.sessions, service.model, publish, limit=limit)
            total += published
            if published < limit:
                return total


class Waker:
    """Blocks between passes: a notification on PostgreSQL, a timer on SQLite."""

    def __init__(self, service: ServiceOutbox) -> None:
        url = make_url(service.database_url)
        self.notifying = url.get_backend_name() == "postgresql"
        self._dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._channel = service.channel
        self._conn: psycopg.Connection[Any] | None = None

    def wait(self) -> None:
        if not self.notifying:
            time.sleep(SQLITE_POLL_S)
            return
        import psycopg  # PostgreSQL only: a relay polling SQLite never loads the driver

        try:
            if self._conn is None:
                # Listening starts before the pass that follows, so a commit during that pass
                # still wakes the next wait.
                self._conn = psycopg.connect(self._dsn, autocommit=True)
                self._conn.execute(f"LISTEN {self._channel}")
                return
            for _ in self._conn.notifies(timeout=FALLBACK_S, stop_after=1):
                pass
            # Whatever else is queued belongs to the same wake-up.
            for _ in self._conn.notifies(timeout=0):
                pass
        except psycopg.Error as err:
            logger.warning("service relay: lost the notification connection (%s)", err)
            self.close()
            time.sleep(ERROR_BACKOFF_S)

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None


def run(capability: str, *, stop: Callable[[], bool] = lambda: False) -> None:
    service = SERVICES[capability]()
    app = make_celery(f"relay-{capability}")
    waker = Waker(service)
    how = "LISTEN/NOTIFY" if waker.notifying else f"polling every {SQLITE_POLL_S:g} s"
    try:
        waker.wait()
        logger.info("relay: ready (%s outbox), waking on %s", capability, how)
        while not stop():
            try:
                published = drain(app, service)
                if published:
                    logger.info("service relay: published %d %s event(s)", published, capability)
                    if COALESCE_S > 0:
                        time.sleep(COALESCE_S)  # the coalescing interval, not a wait for a state
                        continue
            except (KombuError, OSError) as err:
                logger.error("service relay: the broker refused the batch (%s)", err)
                time.sleep(ERROR_BACKOFF_S)
                continue
            except SQLAlchemyError as err:
                logger.error("service relay: the %s database failed (%s)", capability, err)
                time.sleep(ERROR_BACKOFF_S)
                continue
            waker.wait()
    finally:
        waker.close()


def run_all(capabilities: list[str]) -> None:
    """Relay each of ``capabilities`` in a thread of its own until the process is signalled;
    ``SystemExit(1)`` as soon as one of them stops for any other reason."""
    stopped = threading.Event()

    def relay(capability: str) -> None:
        try:
            run(capability)
        except Exception:
            logger.exception("service relay: the %s relay failed", capability)
        finally:
            stopped.set()

    # Daemon threads: a signal ends the process wherever they are; what a batch had not marked
    # published yet is sent again by the next start.
    for capability in capabilities:
        threading.Thread(
            target=relay, args=(capability,), name=f"relay-{capability}", daemon=True
        ).start()
    stopped.wait()
    raise SystemExit(1)


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m sync.service_relay",
        description="Publish services' own outboxes to the monolith (reverse sync).",
    )
    parser.add_argument("capabilities", nargs="+", choices=sorted(SERVICES), metavar="capability")
    args = parser.parse_args(argv)
    if len(set(args.capabilities)) < len(args.capabilities):
        parser.error("name each capability once")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    with contextlib.suppress(KeyboardInterrupt):
        run_all(args.capabilities)


if __name__ == "__main__":
    main()
