"""TEST ONLY: crash injection for the crash matrix of the monolith's remote order writes
(tests/faults/test_monolith_checkout_crash.py), like the orders service's ``crash.py``.

With ``MONOLITH_ORDERS_CRASH_AT=<point>`` the monolith SIGKILLs its whole process group (the
gunicorn master and its workers, as a power cut would: no worker is respawned, nothing is
cleaned up, no answer is sent) when a remote order write reaches that point. Unset (the default,
and in every deployment) ``crash_point`` does nothing. The points, in order:

* checkout: ``before_reserve``, ``after_reserve``, ``after_charge``, ``after_confirm``
  (committed, before the answer); its compensation: ``before_compensate``, ``after_release``
* cancel: ``after_cancel_release``, ``after_refund``; fulfil: ``after_commit``
"""

from __future__ import annotations

import logging
import os
import signal

from django.conf import settings

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
        "after_commit",
    }
)


def crash_point(point: str) -> None:
    assert point in POINTS, point
    crash_at = settings.ORDERS_CRASH_AT
    if crash_at is None:
        return
    if crash_at not in POINTS:
        raise ValueError(f"MONOLITH_ORDERS_CRASH_AT={crash_at!r} is not one of {sorted(POINTS)}")
    if point == crash_at:
        logger.warning("MONOLITH_ORDERS_CRASH_AT=%s: killing the process group", point)
        os.killpg(os.getpgrp(), signal.SIGKILL)
