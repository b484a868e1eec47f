"""How the relay packs a batch of envelopes into broker messages (``sync.event_batches.pack``):
one capability per message, bounded size, seq order kept."""

from __future__ import annotations

from typing import Any

import pytest

from contracts.events import Capability
from sync.event_batches import args_summary, pack


def _envelope(seq: int, aggregate_type: str) -> dict[str, Any]:
    return {"seq": seq, "aggregate_type": aggregate_type, "event_id": f"e{seq}"}


TASKS: dict[Capability, str] = {
    "inventory": "inventory.apply_events",
    "payments": "payments.apply_events",
}


def test_one_capability_per_message_in_seq_order_and_bounded() -> None:
    types = ["product", "payment", "reservation", "product", "payment", "product", "product"]
    envelopes = [_envelope(seq, t) for seq, t in enumerate(types)]

    messages = pack(envelopes, TASKS, per_message=3)

    assert [(task, [e["seq"] for e in chunk]) for task, chunk in messages] == [
        ("inventory.apply_events", [0, 2, 3]),
        ("inventory.apply_events", [5, 6]),
        ("payments.apply_events", [1, 4]),
    ]


def test_an_aggregate_without_a_subscriber_task_is_refused() -> None:
    with pytest.raises(ValueError, match="no subscriber task for aggregate 'order'"):
        pack([_envelope(1, "product"), _envelope(2, "order")], TASKS)
    with pytest.raises(ValueError, match="per_message must be at least 1"):
        pack([], TASKS, per_message=0)


def test_a_message_shows_its_size_and_seq_range_not_its_envelopes() -> None:
    envelopes = [_envelope(seq, "product") for seq in (7, 9, 12)]
    assert args_summary(envelopes) == "[<3 envelope(s), product, seq 7..12>]"
    assert args_summary([]) == "[<0 envelopes>]"
