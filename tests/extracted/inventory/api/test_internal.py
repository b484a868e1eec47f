"""``GET /internal/sync/stats``: what sync applied, skipped, its lag and the backfills."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from extracted.inventory.sync import apply_backfill_batch, apply_event
from tests.extracted.asgi_client import BlockingASGIClient
from tests.extracted.inventory.factories import envelope, product_state
from tests.support.random_refs import random_suffix


def test_stats_start_empty(client: BlockingASGIClient) -> None:
    assert client.get("/internal/sync/stats").json() == {
        "events_processed": 0,
        "events_applied": 0,
        "events_skipped": 0,
        "last_lag_s": None,
        "backfills": [],
        "dead_letters": 0,
        "last_reconciliation": None,
        "reconciliations": {},
    }


def test_stats_count_applied_and_stale_events_and_list_backfills(
    client: BlockingASGIClient, sessions: sessionmaker[Session]
) -> None:
    v2 = envelope(product_state(version=2), occurred_at=datetime.now(UTC) - timedelta(seconds=30))
    sku = v2["aggregate_id"]
    assert apply_event(v2, sessions=sessions) == "applied"
    assert apply_event(v2, sessions=sessions) == "duplicate"
    assert apply_event(envelope(product_state(sku=sku, version=1)), sessions=sessions) == "stale"
    job = f"products-{random_suffix()}"
    apply_backfill_batch(
        job=job,
        aggregate_type="product",
        rows=[product_state()],
        after_key=None,
        last_key="k1",
        done=False,
        sessions=sessions,
    )
    stats = client.get("/internal/sync/stats").json()
    assert (stats["events_processed"], stats["events_applied"], stats["events_skipped"]) == (
        2,
        1,
        1,
    )
    assert isinstance(stats["last_lag_s"], float) and 0 <= stats["last_lag_s"] < 30
    [backfill] = stats["backfills"]
    assert {k: backfill[k] for k in ("job", "last_key", "rows", "done")} == {
        "job": job,
        "last_key": "k1",
        "rows": 1,
        "done": False,
    }
    assert backfill["updated_at"].endswith("Z")
