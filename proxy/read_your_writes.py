"""Read-your-writes: after a client's write, its reads stay on the side that took the write.

Sync between the monolith and a service lags. A client that writes through one side and reads
through the other right after may not see its own write. A route with
``read_your_writes: {window_s: 5}`` remembers, per (group, sticky key), which upstream answered
the last write; for ``window_s`` seconds the same key's reads on any route of the group go to
that upstream, whatever the route's mode or canary bucket says.

The memory is **per proxy process** (not shared between proxies), bounded: the least recently
written keys are forgotten first when it holds ``max_entries``, and an entry is gone once its
window passed. Several proxy processes behind a load balancer each guard only the writes they
served themselves; pin clients to one proxy (or keep one process) where that matters.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable


class WriteMemory:
    """(group, key) -> the upstream that answered the key's last write, until its window ends."""

    def __init__(
        self, *, max_entries: int = 100_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._max = max_entries
        self._clock = clock
        self._entries: OrderedDict[tuple[str, str], tuple[str, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def remember(self, group: str, key: str, upstream: str, window_s: float) -> None:
        entry = (group, key)
        self._entries[entry] = (upstream, self._clock() + window_s)
        self._entries.move_to_end(entry)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def pinned(self, group: str, key: str) -> tuple[str, float] | None:
        """``(upstream, seconds left)`` while the key's window lasts, else None."""
        found = self._entries.get((group, key))
        if found is None:
            return None
        upstream, until = found
        left = until - self._clock()
        if left <= 0:
            del self._entries[(group, key)]
            return None
        return upstream, left
