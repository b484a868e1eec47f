from __future__ import annotations

from typing import Any

from contracts.direction import RETRY_AFTER_S
from monolith.errors import ApplicationError


class CapabilityFrozen(ApplicationError):
    """503 with ``Retry-After``: the capability's writes are not the monolith's right now (the
    same answer once it is retired: a client retrying through the proxy reaches the service)."""

    code = "unavailable"
    retry_after_s = RETRY_AFTER_S

    def __init__(self, capability: str, direction: str) -> None:
        if direction == "retired":
            detail = f"Writes of {capability} are read-only here for good: {capability} is retired."
        else:
            what = (
                "paused while sync changes direction" if direction == "frozen" else "read-only here"
            )
            detail = f"Writes of {capability} are {what}; retry shortly."
        super().__init__(detail)
        self.capability = capability

    def extra(self) -> dict[str, Any]:
        return {}


class SyncInputError(ValueError):
    """An event that does not fit the contract; nothing was applied."""
