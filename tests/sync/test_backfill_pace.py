"""The pace of a throttled backfill: when a chain asks for its next page, and when the chains
of a job start."""

from __future__ import annotations

import time

import pytest

from sync.backfill_pace import stagger, throttle_countdown
from sync.celery_app import MAX_RETRY_COUNTDOWN_S


def test_the_throttle_spaces_pages_by_their_share_of_time() -> None:
    now = time.time()
    assert throttle_countdown(500, None, now) == 0.0  # no throttle: at once
    # 500 rows at 1000 rows/s take half a second, 0.2 s of which reading/applying used up.
    assert throttle_countdown(500, 1000, now - 0.2) == pytest.approx(0.3, abs=0.05)
    assert throttle_countdown(500, 1000, now - 5) == 0.0  # slower than the throttle anyway
    # Capped at the longest countdown the broker's visibility timeout is checked against.
    assert throttle_countdown(500, 0.5, now) == MAX_RETRY_COUNTDOWN_S


def test_the_chains_of_a_throttled_job_start_one_page_apart() -> None:
    assert [stagger(n, 500, None) for n in range(3)] == [0.0, 0.0, 0.0]  # no throttle: at once
    # 4 chains sharing 1000 rows/s, pages of 500: one starts every half second.
    assert [stagger(n, 500, 1000) for n in range(4)] == [0.0, 0.5, 1.0, 1.5]
    assert stagger(63, 500, 1000) == MAX_RETRY_COUNTDOWN_S
