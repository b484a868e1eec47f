"""Refusals of the ``Idempotency-Key`` handling."""

from __future__ import annotations

from monolith.errors import ApplicationError, RuleValidationError

HEADER = "Idempotency-Key"


class IdempotencyKeyReused(ApplicationError):
    """422: the key was first used for another request (method, path or body differ)."""

    code = "idempotency_key_reused"

    def __init__(self) -> None:
        super().__init__(f"This {HEADER} was already used for a different request.")


class InvalidIdempotencyKey(RuleValidationError):
    def __init__(self) -> None:
        super().__init__({HEADER: ["Must be 1 to 255 visible ASCII characters."]})


class IdempotencyKeyInFlight(ApplicationError):
    """409: the first request with this key is still running (a write made in steps, whose key
    is claimed before it starts rather than held in one transaction); retry shortly."""

    code = "conflict"

    def __init__(self) -> None:
        super().__init__(f"The first request with this {HEADER} is still running; retry shortly.")
