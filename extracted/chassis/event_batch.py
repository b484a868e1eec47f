"""Several outbox events applied in one transaction, by any service's per-event apply function.

The relay sends a subscriber its events several to a message (``sync.event_batches``): one
transaction (one commit, one round trip per statement) for the lot instead of one per event is
most of what a subscriber saves. Each envelope goes through the service's own
``apply_event_in(session, envelope)``, so event-id dedup and compare-and-set on version hold per
envelope exactly as for a single event. All or nothing: any error rolls the whole batch back (the
worker then applies the envelopes one by one, parking the poison ones as dead letters).

Envelopes are applied in aggregate order (type, id, version), not in the order received: two
batches applied at once by two workers then lock the rows they share in the same order and
never deadlock. Versions, not arrival order, decide what is newest, so the order is free.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy.orm import Session, sessionmaker

OutcomeT = TypeVar("OutcomeT")

#: A service's per-event apply function, run inside the caller's transaction.
ApplyIn = Callable[[Session, Any], OutcomeT]


def lock_order(envelope: Any) -> tuple[str, str, int]:
    """Where an envelope sorts in a batch; anything malformed sorts first (and fails there)."""
    if not isinstance(envelope, dict):
        return ("", "", 0)
    version = envelope.get("version")
    return (
        str(envelope.get("aggregate_type", "")),
        str(envelope.get("aggregate_id", "")),
        version if isinstance(version, int) else 0,
    )


def apply_in_one_transaction(
    sessions: sessionmaker[Session], envelopes: Sequence[Any], apply_in: ApplyIn[OutcomeT]
) -> list[OutcomeT]:
    """Apply every envelope with ``apply_in`` in one transaction; their outcomes, in the order
    given. Raises (having changed nothing) when any one of them raises."""
    order = sorted(range(len(envelopes)), key=lambda i: lock_order(envelopes[i]))
    outcomes: dict[int, OutcomeT] = {}
    with sessions.begin() as session:
        for i in order:
            outcomes[i] = apply_in(session, envelopes[i])
    return [outcomes[i] for i in range(len(envelopes))]
