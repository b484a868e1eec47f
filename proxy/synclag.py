"""How far behind the sync is, read over HTTP: stored with every mismatch.

A mismatch seen while sync is minutes behind is most likely stale data on the target, not a
bug; one seen with the sync caught up is worth reading. The proxy imports no sync code: it polls
``PROXY_SYNC_LAG_URL`` every ``PROXY_SYNC_LAG_INTERVAL_S`` seconds and reads a lag figure from the
JSON answer, the first of:

* ``lag_s`` — any source that computes the figure itself;
* ``oldest_pending_age_s`` — the monolith's ``GET /internal/outbox/stats``: the age of the
  oldest event not yet handed to the broker (``null`` there means nothing is pending: 0);
* ``last_lag_s`` — the service's ``GET /internal/sync/stats``: commit-to-applied time of the
  last event it applied.

The figure is unknown (``None``) when no URL is set, before the first answer, after a failed
poll, and when the last good answer is older than three intervals.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from typing import Any

import aiohttp

log = logging.getLogger("proxy.synclag")

#: Keys read from the answer, in order of preference.
LAG_KEYS: tuple[str, ...] = ("lag_s", "oldest_pending_age_s", "last_lag_s")


def lag_from(answer: Any) -> float | None:
    """The lag figure in a JSON answer, or None when it carries none."""
    if not isinstance(answer, dict):
        return None
    for key in LAG_KEYS:
        if key not in answer:
            continue
        value = answer[key]
        if value is None and key == "oldest_pending_age_s":
            return 0.0 if answer.get("pending") == 0 else None
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        return float(value) if math.isfinite(value) and value >= 0 else None
    return None


class SyncLag:
    """The latest lag figure, refreshed by :meth:`run` (a task on the proxy's loop)."""

    def __init__(self, url: str | None, *, interval_s: float = 2.0, timeout_s: float = 2.0) -> None:
        self.url = url
        self.interval_s = interval_s
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._value: float | None = None
        self._read_at = -math.inf

    def current(self) -> float | None:
        """Seconds behind, or None when unknown (no source, failing, or stale)."""
        if time.monotonic() - self._read_at > 3 * self.interval_s:
            return None
        return self._value

    async def poll_once(self, session: aiohttp.ClientSession) -> None:
        assert self.url is not None
        try:
            async with session.get(self.url, timeout=self._timeout) as resp:
                answer = await resp.json(content_type=None) if resp.status == 200 else None
        except (aiohttp.ClientError, TimeoutError, ValueError) as err:
            log.debug("sync lag: %s unreadable: %s", self.url, err)
            answer = None
        value = lag_from(answer)
        self._value = value
        self._read_at = time.monotonic() if value is not None else -math.inf

    async def run(self) -> None:
        """Poll until cancelled; does nothing when no URL is configured."""
        if not self.url:
            return
        async with aiohttp.ClientSession() as session:
            while True:
                await self.poll_once(session)
                await asyncio.sleep(self.interval_s)
