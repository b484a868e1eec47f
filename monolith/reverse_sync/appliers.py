"""How reverse sync writes each aggregate type it applies: the state model its events carry and
the app's function writing it (compare-and-set on version, no outbox event). Each app registers
its own in its ``AppConfig.ready()``, and ``monolith.reverse_sync.inbox`` reads them, so this
app never points back at the others."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

#: Writes a state if it is newer than the stored row; whether it wrote.
StateApply = Callable[[Any], bool]

_APPLIERS: dict[str, tuple[type[BaseModel], StateApply]] = {}


def register_state_applier(aggregate_type: str, model: type[BaseModel], apply: StateApply) -> None:
    _APPLIERS[aggregate_type] = (model, apply)


def state_applier(aggregate_type: str) -> tuple[type[BaseModel], StateApply] | None:
    """The state model and writer of ``aggregate_type`` (None: reverse sync does not apply it)."""
    return _APPLIERS.get(aggregate_type)
