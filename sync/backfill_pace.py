"""How fast a throttled backfill chain asks for its pages: what the owner's backfill tasks
(``sync.backfill_tasks``) compute before they ask the monolith for the next page."""

from __future__ import annotations

import time

from sync.celery_app import MAX_RETRY_COUNTDOWN_S


def throttle_countdown(rows: int, rows_per_s: float | None, read_at: float | None) -> float:
    """Seconds to wait before asking for the next page so a job averages ``rows_per_s``: the
    page's share of time (rows / rate) minus what has passed since it was read (``read_at``,
    ``time.time()``); capped at MAX_RETRY_COUNTDOWN_S (an ETA message must stay under the
    broker's visibility timeout)."""
    if not rows_per_s or read_at is None:
        return 0.0
    wait = read_at + rows / rows_per_s - time.time()
    return min(max(wait, 0.0), float(MAX_RETRY_COUNTDOWN_S))


def stagger(number: int, page_size: int, rows_per_s: float | None) -> float:
    """When the ``number``-th (0-based) of a throttled job's chains asks for its first page:
    chain after chain, a page's share of time apart, so the chains together run at the
    throttle from the first page on instead of starting with one page each at once. Capped
    like ``throttle_countdown``."""
    if not rows_per_s:
        return 0.0
    return min(number * page_size / rows_per_s, float(MAX_RETRY_COUNTDOWN_S))
