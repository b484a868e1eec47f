"""The baseline of ``bench.relay_lag``: a worker on the real sync configuration whose one task
does nothing but note how long its message took from the sender to here.

``celery -A bench.noop_worker worker`` (the stack's worker options); the task LPUSHes
``now - sent_at`` onto the Redis list named by ``STRANGLER_BENCH_NOOP_KEY`` (no result backend).
"""

from __future__ import annotations

import os
import time

import redis

from sync.celery_app import make_celery

app = make_celery("inventory")
_store = redis.Redis.from_url(os.environ["STRANGLER_BENCH_NOOP_URL"])
_key = os.environ["STRANGLER_BENCH_NOOP_KEY"]


@app.task(name="inventory.noop")
def noop(sent_at: float) -> None:
    _store.lpush(_key, time.time() - sent_at)
