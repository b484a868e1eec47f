"""TEST ONLY: crash injection for the saga's crash tests (tests/faults/test_orders_crash.py).

With ``ORDERS_CRASH_AT=<point>`` in the environment the process SIGKILLs itself when a saga
reaches that point: no cleanup, no response, exactly like a power cut. Unset (the default and in
every deployment), ``crash_point`` does nothing. The points, in saga order:

* checkout: ``before_reserve``, ``after_reserve``, ``after_charge``, ``after_confirm``
  (committed, before the answer is sent); its compensation: ``before_compensate``,
  ``after_release``
* cancel: ``after_cancel_release``, ``after_refund``
"""

from __future__ import annotations

import logging
import os
import signal

logger = logging.getLogger(__name__)

POINTS = frozenset(
    {
        "before_reserve",
        "after_reserve",
        "after_charge",
        "after_confirm",
        "before_compensate",
        "after_release",
        "after_cancel_release",
        "after_refund",
    }
)


class CrashPoints:
    def __init__(self, crash_at: str | None) -> None:
        if crash_at is not None and crash_at not in POINTS:
            raise ValueError(f"ORDERS_CRASH_AT={crash_at!r} is not one of {sorted(POINTS)}")
        self.crash_at = crash_at

    def __call__(self, point: str) -> None:
        assert point in POINTS, point
        if point == self.crash_at:
            logger.warning("ORDERS_CRASH_AT=%s: killing the process", point)
            os.kill(os.getpid(), signal.SIGKILL)
