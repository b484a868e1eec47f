"""The recovery loop: on start and then every ``recovery_interval_s``, every saga that is not in a
terminal state, whose retry is due and whose lease ran out (its runner died, or gave up waiting
for an upstream) is claimed and run on: forward if it was going forward, compensating if it was
compensating (saga.py). A daemon thread in each orders process; sagas are claimed with a
compare-and-set, so several processes may run it at once.
"""

from __future__ import annotations

import logging
import threading
import uuid

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from extracted.chassis.timefmt import utcnow
from extracted.orders.models import Saga
from extracted.orders.saga import SagaRunner

logger = logging.getLogger(__name__)

#: Most sagas one pass takes on (the next pass takes the rest).
BATCH = 50


def due_sagas(sessions: sessionmaker[Session], *, limit: int = BATCH) -> list[uuid.UUID]:
    now = utcnow()
    with sessions() as session:
        return list(
            session.scalars(
                select(Saga.id)
                .where(
                    Saga.terminal.is_(False),
                    Saga.next_attempt_at <= now,
                    (Saga.lease_until.is_(None)) | (Saga.lease_until < now),
                )
                .order_by(Saga.next_attempt_at)
                .limit(limit)
            )
        )


def saga_counts(sessions: sessionmaker[Session]) -> tuple[int, dict[str, int]]:
    """(stuck sagas, active sagas by kind)."""
    with sessions() as session:
        stuck = session.scalar(
            select(func.count()).select_from(Saga).where(Saga.terminal.is_(False), Saga.stuck)
        )
        active = session.execute(
            select(Saga.kind, func.count()).where(Saga.terminal.is_(False)).group_by(Saga.kind)
        ).all()
    return int(stuck or 0), {kind: int(count) for kind, count in active}


class RecoveryLoop:
    def __init__(
        self, runner: SagaRunner, sessions: sessionmaker[Session], *, interval_s: float
    ) -> None:
        self.runner = runner
        self.sessions = sessions
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="saga-recovery", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def run_once(self) -> int:
        """One pass; how many sagas it ran."""
        ran = 0
        for saga_id in due_sagas(self.sessions):
            if self._stop.is_set():
                break
            if not self.runner.claim(saga_id):
                continue
            saga = self.runner.run(saga_id, first_run=False)
            ran += 1
            logger.info(
                "saga recovered",
                extra={"saga_id": str(saga_id), "state": saga.state, "terminal": saga.terminal},
            )
        return ran

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:  # keep the loop alive: the next pass retries
                logger.exception("saga recovery pass failed")
            self._stop.wait(self.interval_s)
