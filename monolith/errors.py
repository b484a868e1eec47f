"""Refusals the domain raises and the API turns into the contract's error body.

Each kind carries the contract's machine-readable ``code`` and a human ``detail`` sentence, plus
any extra keys of its body (``extra()``); ``monolith.api.exception_handlers`` maps the code to an
HTTP status, so the domain never speaks HTTP.
"""

from __future__ import annotations

from typing import Any, ClassVar


class ApplicationError(Exception):
    code: ClassVar[str] = "error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail

    def extra(self) -> dict[str, Any]:
        """Keys the error body carries besides ``error`` and ``detail``."""
        return {}


class NotFoundError(ApplicationError):
    code = "not_found"


class ConflictError(ApplicationError):
    code = "conflict"


class InvalidStateError(ApplicationError):
    code = "invalid_state"


class RuleValidationError(ApplicationError):
    """A business rule refuses one field's value (reported like a serializer's field error)."""

    code = "validation_error"

    def __init__(self, fields: dict[str, list[str]]) -> None:
        super().__init__("Invalid input.")
        self.fields = fields

    def extra(self) -> dict[str, Any]:
        return {"fields": dict(sorted(self.fields.items()))}
