"""Refusals a service's domain raises, which its API layer turns into the contract's error body.

Each kind carries the contract's machine-readable ``code``, a human ``detail`` sentence and the
other keys of its body (``extra``); ``extracted.chassis.web.errors`` maps the code to an HTTP
status (``STATUS_BY_CODE``), so the domain never speaks HTTP (as the monolith's
``monolith/errors.py``).
"""

from __future__ import annotations

from typing import Any, ClassVar


class DomainError(Exception):
    code: ClassVar[str] = "error"
    #: Seconds after which trying again makes sense (a refusal that is temporary), else None.
    retry_after_s: int | None = None

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class NotFoundError(DomainError):
    code = "not_found"

    def __init__(self, detail: str = "Not found.") -> None:
        super().__init__(detail)


class ConflictError(DomainError):
    code = "conflict"


class InvalidStateError(DomainError):
    code = "invalid_state"


class RuleValidationError(DomainError):
    """A business rule refuses fields' values (reported like a serializer's field errors)."""

    code = "validation_error"

    def __init__(self, fields: dict[str, list[str]]) -> None:
        super().__init__("Invalid input.", fields=dict(sorted(fields.items())))
        self.fields = fields


class UnavailableError(DomainError):
    """Temporarily refused: try again after ``retry_after_s``."""

    code = "unavailable"

    def __init__(self, detail: str, *, retry_after_s: int) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s
