"""Outbox events several to a broker message: how the relay packs them and how a subscriber's
worker applies one such message. The same for every capability; neither side's code is imported
here (the relay and each worker pass in what is theirs).

Why: one message per event costs the relay a broker round trip per event, and the worker a
message fetch, an ack and a database transaction per event, which bounds how fast a subscriber
keeps up.

At-least-once holds as for single events. The relay marks a batch published only after ``send``
returned for every message of it. A worker acks a message after its task returned (late ack): a
worker killed mid-batch leaves the whole message to be redelivered, and event-id dedup drops what
was applied.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from contracts.events import CAPABILITY_AGGREGATES, Capability

logger = logging.getLogger(__name__)

#: Envelopes per broker message at most (a relay batch of 500 of one capability is 5 messages).
#: Big enough that a backlog drains in few transactions; small enough that a message holding a
#: poison event (which sends its batch back to one transaction per event) stays cheap.
ENVELOPES_PER_MESSAGE: Final = 100

_CAPABILITY_OF: Final = {
    aggregate: capability
    for capability, aggregates in CAPABILITY_AGGREGATES.items()
    for aggregate in aggregates
}


def pack(
    envelopes: Sequence[dict[str, Any]],
    tasks: Mapping[Capability, str],
    *,
    per_message: int = ENVELOPES_PER_MESSAGE,
) -> list[tuple[str, list[dict[str, Any]]]]:
    """The messages for a relay batch: ``(task name, envelopes)``, one capability per message
    (``tasks`` maps a capability to its batch task), at most ``per_message`` envelopes each, seq
    order kept within a capability. An envelope of a capability without a task is an error: the
    relay selects only the aggregates it has subscribers for."""
    if per_message < 1:
        raise ValueError(f"per_message must be at least 1, got {per_message}")
    grouped: dict[str, list[dict[str, Any]]] = {}
    for envelope in envelopes:
        capability = _CAPABILITY_OF.get(envelope["aggregate_type"])
        if capability is None or capability not in tasks:
            raise ValueError(f"no subscriber task for aggregate {envelope['aggregate_type']!r}")
        grouped.setdefault(tasks[capability], []).append(envelope)
    return [
        (task, chunk[i : i + per_message])
        for task, chunk in grouped.items()
        for i in range(0, len(chunk), per_message)
    ]


def args_summary(envelopes: Sequence[dict[str, Any]]) -> str:
    """What a batch message shows of its arguments (Celery's ``argsrepr``: monitoring, the
    worker's error lines): how many envelopes and their seq range. Celery builds this repr
    itself otherwise, a ``saferepr`` of the envelopes that costs the relay much of its CPU."""
    if not envelopes:
        return "[<0 envelopes>]"
    return (
        f"[<{len(envelopes)} envelope(s), {envelopes[0].get('aggregate_type')}, "
        f"seq {envelopes[0].get('seq')}..{envelopes[-1].get('seq')}>]"
    )


def apply_message(
    envelopes: Any,
    *,
    apply_all: Callable[[list[Any]], Sequence[str]],
    apply_one: Callable[[Any], str],
    transient: tuple[type[BaseException], ...],
) -> dict[str, int]:
    """Apply one batch message in a subscriber's worker; how many envelopes had each outcome.

    First all in one transaction (``apply_all``, e.g. ``extracted.<service>.sync.apply_events``).
    A ``transient`` error propagates (the task is retried: the transaction rolled back, and what
    an earlier try applied is dropped by dedup). Any other error means one envelope (or more) is
    poison: the batch is applied again one envelope at a time with ``apply_one``, the worker's
    single-event path, which parks a poison envelope as a dead letter and applies the rest.
    """
    if not isinstance(envelopes, list):
        # Not a batch at all: hand it to the single-event path, which parks what it cannot read.
        return dict(Counter([apply_one(envelopes)]))
    try:
        outcomes = list(apply_all(envelopes))
    except transient:
        raise
    except Exception as err:
        logger.warning(
            "a batch of %d event(s) refused (%s); applying them one by one", len(envelopes), err
        )
        outcomes = [apply_one(envelope) for envelope in envelopes]
    return dict(Counter(outcomes))
