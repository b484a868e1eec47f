"""The recovery pass of the orders' remote writes (``order_steps.py``): every record not ended
whose retry is due and whose lease ran out (its process died, or a step waits for an owner) is
claimed (compare-and-set) and taken on: a checkout that had not stored its order is
compensated, anything else is taken to its end.

Where it runs: in each monolith process (gunicorn worker), a daemon thread started by
``monolith/wsgi.py``, once at start and then every ``ORDERS_RECOVERY_INTERVAL_S``. Why there:
it needs the monolith's models and in-process adapters (a switch back may make a port in
process again), the monolith's token issuer for the remote ones, and it must run whenever the
monolith takes orders writes, which is exactly when the monolith runs. No new process, no
scheduler: the claim's compare-and-set lets every worker run it at once.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime

from django.db import connection
from django.db.models import Q
from django.utils import timezone

from monolith.orders.models import OrderProgress
from monolith.orders.order_steps import TakenOver, lease, run

logger = logging.getLogger(__name__)

#: Most records one pass takes on (the next pass takes the rest).
BATCH = 50


def _claim(progress: OrderProgress, now: datetime) -> OrderProgress | None:
    claimed = (
        OrderProgress.objects.filter(id=progress.id, version=progress.version, finished=False)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .update(version=progress.version + 1, lease_until=timezone.now() + lease())
    )
    return OrderProgress.objects.get(id=progress.id) if claimed == 1 else None


def recover_once(*, limit: int = BATCH) -> int:
    """One pass; how many records it took on."""
    now = timezone.now()
    due = list(
        OrderProgress.objects.filter(finished=False, next_attempt_at__lte=now)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .order_by("next_attempt_at")[:limit]
    )
    ran = 0
    for progress in due:
        claimed = _claim(progress, now)
        if claimed is None:
            continue
        try:
            ended = run(claimed, first_run=False)
        except TakenOver:
            continue
        ran += 1
        logger.info(
            "order write recovered",
            extra={
                "order_id": str(ended.order_id),
                "kind": ended.kind,
                "state": ended.state,
                "finished": ended.finished,
            },
        )
    return ran


class RecoveryLoop:
    def __init__(self, *, interval_s: float) -> None:
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="orders-recovery", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                recover_once()
            except Exception:  # keep the loop alive: the next pass retries
                logger.exception("orders recovery pass failed")
            finally:
                # This thread's connection is idle until the next pass: give it back (each
                # gunicorn worker would otherwise hold one more for nothing).
                connection.close()
            self._stop.wait(self.interval_s)
