"""Which owner takes a capability's writes, and the wire shapes of the direction switch.

* ``forward``: the monolith takes the writes; its outbox flows to the service (the forward relay).
* ``frozen``: nobody on this side takes writes (the owner answers 503 with ``Retry-After``): the
  transitional state while the other flow drains.
* ``reverse``: the service takes the writes; its own outbox flows back into the monolith (the
  service relay), and the monolith stays read-only for the capability.
* ``retired``: the cord is cut (the plan's last step). The service takes the writes and keeps
  recording its events, but none is sent to the monolith any more; the monolith applies none
  and its capability tables are read-only for good. Reached only from ``reverse``, never left
  (``change_refusal``).

Each owner stores its own direction in its own database; ``sync.control.direction`` moves
both, with a drain in between (docs/reverse-sync.md).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field

Direction = Literal["forward", "frozen", "reverse", "retired"]

#: What a frozen owner asks clients to wait before they retry a refused write (seconds).
RETRY_AFTER_S: Final = 1
#: How many of the newest relayed event ids a drain check looks at.
TAIL_LIMIT_MAX: Final = 1000


def change_refusal(current: str, target: Direction) -> str | None:
    """Why an owner refuses to move from ``current`` to ``target`` (None: allowed). Both owners
    apply it to every ``PUT .../direction`` and answer 409 ``conflict`` with this sentence.

    Retirement is a one-way door: it is entered only from ``reverse`` (the service already takes
    the writes, so nothing is lost by stopping the flow back), and nothing leaves it, since the
    monolith's copy stops receiving writes from then on and could never take them back."""
    if current == target:
        return None
    if current == "retired":
        return f"the capability is retired here: it never moves to {target}"
    if target == "retired" and current != "reverse":
        return f"only a reverse capability can be retired, this one is {current}"
    return None


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DirectionChange(_Wire):
    """``PUT .../direction`` body."""

    direction: Direction


class DirectionView(_Wire):
    """What an owner answers about its direction."""

    capability: str
    direction: Direction
    changed_at: datetime


class ProcessedQuery(_Wire):
    """``POST /internal/sync/processed``: which of these event ids has the owner not processed?"""

    event_ids: list[uuid.UUID] = Field(max_length=TAIL_LIMIT_MAX)


class ProcessedAnswer(_Wire):
    missing: list[uuid.UUID]


class OutboxTail(_Wire):
    """An owner's outbox for one capability, as the drain reads it: what is still pending, the
    ids of the newest events its relay sent (newest first), and how many accepted writes have
    not recorded their events yet (the orders service's sagas in flight: each may still write
    its order; 0 for an owner whose writes are one transaction each)."""

    pending: int
    oldest_pending_age_s: float | None
    recent_event_ids: list[uuid.UUID]
    in_flight: int = 0


class WriteUpstreams(_Wire):
    """``GET /internal/sync/upstreams`` of a service whose writes call other capabilities'
    owners (the orders saga: through the façade, ``STRANGLER_FACADE_URL``, unless
    ``ORDERS_INVENTORY_URL`` / ``ORDERS_PAYMENTS_URL`` override it): capability -> base URL.
    The switch reads it to refuse making the service a source its calls could not follow
    (``sync.control.direction``)."""

    upstreams: dict[str, str]
