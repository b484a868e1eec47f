"""The one place Celery is configured, for both worker apps, the relay and the CLI.

One queue per side: ``<STRANGLER_QUEUE_PREFIX>monolith`` (read the monolith's database) and one
per subscriber, ``<prefix>inventory``, ``<prefix>payments``, ``<prefix>orders`` (each writes its
service's database). A worker app built for one side consumes only that side's queue, so
`celery -A sync.payments_worker worker` never runs monolith or inventory code. Tasks are routed by
name (``monolith.*``, ``inventory.*``, ``payments.*``, ``orders.*``) and sent by name, so no side
imports another.

Broker: ``CELERY_BROKER_URL`` (Redis in real mode); without it, the embedded kombu
``filesystem://`` transport under ``$STRANGLER_VAR_DIR/broker`` (no server to install).
"""

from __future__ import annotations

from typing import Any, Final

from celery import Celery
from kombu import Exchange, Queue

from sync.settings import SyncSettings
from sync.task_names import SIDES, Side

#: The longest countdown any task of ours waits before a retry (exponential backoff is capped
#: here). Every ETA message is held unacknowledged by the worker until it runs, so the Redis
#: visibility timeout below must be longer, or Redis would hand the message out a second time.
MAX_RETRY_COUNTDOWN_S: Final = 30

#: How long Redis waits for an ack before it redelivers a message to another worker (default of
#: ``STRANGLER_BROKER_VISIBILITY_TIMEOUT_S``). Long, because redelivery only matters after a
#: worker died (a short one would duplicate slow or retried work); every task is idempotent, so a
#: redelivered message does no harm. It must exceed MAX_RETRY_COUNTDOWN_S: a retry is a message
#: with an ETA that the worker holds unacknowledged until then, and Redis would hand it out a
#: second time otherwise. ``make_celery`` refuses a setting that breaks this.
VISIBILITY_TIMEOUT_S: Final = 3600


class BrokerSettingsError(ValueError):
    """The broker settings break the at-least-once rules above."""


#: The embedded transport lists its folder this often while idle (kombu's default is 1 s, which
#: would add up to a second per hop of relay -> worker).
FILESYSTEM_POLL_S: Final = 0.1


#: Transient errors (a database restarting, a lock timeout) are retried with exponential backoff
#: capped at MAX_RETRY_COUNTDOWN_S; after this many attempts (about 50 minutes) the task
#: fails and Celery logs it. Errors that are not transient never retry: the event worker parks
#: them as dead letters (sync.event_task).
TRANSIENT_MAX_RETRIES: Final = 100


def transient_retry(*errors: type[BaseException]) -> dict[str, Any]:
    """Task options: retry on ``errors`` with jittered exponential backoff (1 s, 2 s, 4 s, ...
    capped at MAX_RETRY_COUNTDOWN_S); every other exception fails the task at once."""
    return {
        "autoretry_for": errors,
        "retry_backoff": 1,
        "retry_backoff_max": MAX_RETRY_COUNTDOWN_S,
        "retry_jitter": True,
        "max_retries": TRANSIENT_MAX_RETRIES,
        "default_retry_delay": 1,
    }


def queue_name(side: Side, prefix: str) -> str:
    return f"{prefix}{side}"


def side_queue(side: Side, prefix: str) -> Queue:
    """The queue of one side, declared explicitly (durable, its own direct exchange)."""
    name = queue_name(side, prefix)
    return Queue(name, Exchange(name, type="direct", durable=True), routing_key=name, durable=True)


def _broker_config(settings: SyncSettings) -> dict[str, Any]:
    if settings.embedded_broker:
        broker = settings.broker_dir
        queue_dir = broker / "queue"
        control_dir = broker / "control"
        for folder in (queue_dir, control_dir):
            folder.mkdir(parents=True, exist_ok=True)
        return {
            "broker_url": "filesystem://",
            # kombu's transport with an atomic put (sync.filesystem_transport says why).
            "broker_transport": "sync.filesystem_transport:Transport",
            "broker_transport_options": {
                # One folder for in and out: every process (workers, relay, CLI) publishes into
                # and consumes from the same place, so they all see the same queues.
                "data_folder_in": str(queue_dir),
                "data_folder_out": str(queue_dir),
                # Exchange tables (fanout bindings) shared by the processes as files.
                "control_folder": str(control_dir),
                "polling_interval": FILESYSTEM_POLL_S,
            },
            # Caveat of this transport: a worker takes a message by moving its file away, and
            # kombu re-queues unacked messages only on a clean shutdown, so a worker killed
            # mid-task loses that one message (acks_late cannot help here). Redis keeps it until
            # the visibility timeout. A lost event leaves the row behind until the next write of
            # it; a lost backfill batch is picked up again by a resume.
            # Remote control (`celery inspect`, pidbox replies) needs a broadcast-and-reply
            # channel the file transport does not really provide: switched off on purpose.
            # Mingle and gossip switch themselves off on transports other than amqp/redis.
            "worker_enable_remote_control": False,
        }
    url = settings.broker_url
    assert url is not None
    if settings.visibility_timeout_s <= MAX_RETRY_COUNTDOWN_S:
        raise BrokerSettingsError(
            f"STRANGLER_BROKER_VISIBILITY_TIMEOUT_S={settings.visibility_timeout_s} must be longer"
            f" than the longest retry countdown ({MAX_RETRY_COUNTDOWN_S} s)"
        )
    options: dict[str, Any] = {
        # Longer than any retry countdown (see MAX_RETRY_COUNTDOWN_S): see above.
        "visibility_timeout": settings.visibility_timeout_s,
        # A broker address that does not answer fails within seconds instead of hanging.
        "socket_connect_timeout": 5,
        # A worker killed mid-task leaves its message in Redis's unacked set; every worker looks
        # for ones older than the visibility timeout every 10 s and puts them back. kombu skips
        # 9 of 10 looks by default (redelivery up to 100 s late); the look is one ZRANGE.
        "unacked_restore_interval": 10,
        "unacked_restore_throttle": 1,
        # Message bodies go into Redis as the JSON text itself, not base64 of it (kombu's
        # default for virtual transports): base64 makes a backfill page a third larger and
        # costs CPU on both sides. Receivers decode by each message's own ``body_encoding``
        # property, so base64 messages still in the queue are read too.
        "body_encoding": None,
    }
    if url.startswith(("amqp", "pyamqp")):
        # Publisher confirms: send_task returns only once the broker has the message. Redis has
        # no confirms; there the LPUSH reply is the broker's acceptance.
        options["confirm_publish"] = True
    return {"broker_url": url, "broker_transport_options": options}


def make_celery(name: str) -> Celery:
    """A Celery app configured from the environment.

    ``name`` one of ``SIDES``: the app consumes that side's queue (the worker apps). Any other name
    (the relay, the CLI, tests): a sender that declares every queue and consumes none unless told
    with ``-Q``.
    """
    settings = SyncSettings()
    settings.var.mkdir(parents=True, exist_ok=True)
    prefix = settings.queue_prefix
    queues: dict[str, Queue] = {side: side_queue(side, prefix) for side in SIDES}
    consumed = [queues[name]] if name in queues else list(queues.values())

    # Celery's Django fix-up (django.setup() at worker start, DB connections closed around each
    # task and after fork) is what the monolith side needs; every other app switches it off, so
    # a DJANGO_SETTINGS_MODULE left in the environment never drags Django into them.
    fixups: list[str] | None = None if name == "monolith" else []
    app = Celery(name, set_as_current=False, fixups=fixups)
    app.conf.update(
        _broker_config(settings),
        # JSON only: messages are plain data (envelopes, rows, keys) and never executable pickle.
        task_serializer="json",
        accept_content=["json"],
        event_serializer="json",
        # At-least-once: ack after the task ran, so a worker that dies mid-task leaves the
        # message to be delivered again (every task here is idempotent: event-id dedup,
        # compare-and-set on version, checkpointed backfill).
        task_acks_late=True,
        # ... and when the pool child running it is killed, requeue instead of acking.
        task_reject_on_worker_lost=True,
        # On a lost broker connection the unacked message will be redelivered anyway: stop the
        # running copy rather than finish it twice (also silences Celery's pending-change warning).
        worker_cancel_long_running_tasks_on_connection_loss=True,
        # One message reserved per pool process: a dead worker strands at most that many, and a
        # slow task does not hold a backlog hostage while other workers idle.
        worker_prefetch_multiplier=1,
        # Nobody reads results: no backend, nothing stored.
        result_backend=None,
        task_ignore_result=True,
        task_store_errors_even_if_ignored=False,
        # Queues declared explicitly; a task name that matches no route is an error, not a queue
        # created on the fly that nobody consumes.
        task_queues=consumed,
        task_default_queue=consumed[0].name,
        task_create_missing_queues=False,
        task_routes={f"{side}.*": {"queue": queues[side]} for side in SIDES},
        # Control and event exchanges per prefix, so deployments (and tests) sharing one Redis
        # never hear each other's broadcasts.
        control_exchange=f"{prefix}celery",
        event_exchange=f"{prefix}celeryev",
        # A refused broker surfaces as an error within a couple of seconds (the relay then marks
        # nothing published; the CLI prints one line) instead of hanging the caller.
        task_publish_retry=True,
        task_publish_retry_policy={
            "max_retries": 3,
            "interval_start": 0,
            "interval_step": 0.5,
            "interval_max": 1,
        },
        # Workers started before the broker wait for it instead of exiting.
        broker_connection_retry_on_startup=True,
        # Beat keeps its last-run file with the other files of this deployment.
        beat_schedule_filename=str(settings.var / f"celerybeat-schedule{prefix and '-' + prefix}"),
        timezone="UTC",
        enable_utc=True,
    )
    return app
