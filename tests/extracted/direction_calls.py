"""What the services' reverse-sync tests share: moving a service's direction over its internal
API with the test's sync token (the ``sync_token`` fixture puts it in the environment, where
the callers' ``sync.control.internal_auth`` reads it), and running the chassis relay over its own
outbox."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from extracted.chassis.sync.outbox_relay import RelayedOutbox, relay_batch
from sync.control.internal_auth import sync_headers
from tests.extracted.asgi_client import BlockingASGIClient

DIRECTION = "/internal/sync/direction"


def set_direction(client: BlockingASGIClient, direction: str) -> None:
    answer = client.request(
        "PUT",
        DIRECTION,
        json={"direction": direction},
        headers=sync_headers(),
    )
    assert (answer.status_code, answer.json()["direction"]) == (200, direction)


def relay_all(sessions: sessionmaker[Session], model: type[RelayedOutbox]) -> list[dict[str, Any]]:
    """Every pending own-outbox event, in batches of two, as the relay would send them."""
    sent: list[dict[str, Any]] = []
    while relay_batch(sessions, model, sent.append, limit=2):
        pass
    return sent
