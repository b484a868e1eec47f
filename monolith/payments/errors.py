"""The payments' refusals (docs/payments-api.md, error bodies)."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from monolith.errors import (
    ApplicationError,
    ConflictError,
    InvalidStateError,
    NotFoundError,
    RuleValidationError,
)
from monolith.money import money


class PaymentNotFound(NotFoundError):
    def __init__(self, payment_id: uuid.UUID | str) -> None:
        super().__init__(f"Payment '{payment_id}' not found.")
        self.payment_id = payment_id


class PaymentAlreadyExists(ConflictError):
    """A caller-chosen ``payment_id`` that is already taken."""

    def __init__(self, payment_id: uuid.UUID) -> None:
        super().__init__(f"Payment '{payment_id}' already exists.")
        self.payment_id = payment_id


class RefundAlreadyExists(ConflictError):
    """A caller-chosen ``refund_id`` that is already taken."""

    def __init__(self, refund_id: uuid.UUID) -> None:
        super().__init__(f"Refund '{refund_id}' already exists.")
        self.refund_id = refund_id


class PaymentNotInState(InvalidStateError):
    """409 ``invalid_state`` with ``"status": <current>``."""

    def __init__(self, status: str, *, expected: str) -> None:
        super().__init__(f"Payment is {status}, expected {expected}.")
        self.status = status
        self.expected = expected

    def extra(self) -> dict[str, Any]:
        return {"status": self.status}


class RefundExceedsCaptured(ApplicationError):
    """409: more than what is left to refund (``"refundable": "7.50"``)."""

    code = "refund_exceeds_captured"

    def __init__(self, refundable: Decimal) -> None:
        super().__init__(f"The refund exceeds what is left to refund ({money(refundable)}).")
        self.refundable = refundable

    def extra(self) -> dict[str, Any]:
        return {"refundable": money(self.refundable)}


class PaymentDeclined(ApplicationError):
    """402: the card was declined. The services return a declined payment rather than raising;
    the APIs raise this with what their body carries besides the reason (``payment`` or
    ``order``)."""

    code = "payment_declined"

    def __init__(self, reason: str, **context: Any) -> None:
        super().__init__("The card was declined.")
        self.reason = reason
        self.context = context

    def extra(self) -> dict[str, Any]:
        return {"reason": self.reason, **self.context}


class PaymentGatewayFailed(ApplicationError):
    """502: the gateway failed (``gateway.GatewayError``); nothing was charged or stored by the
    payment itself, so the client may retry. ``context``: extra body keys (e.g. ``order``)."""

    code = "gateway_error"

    def __init__(self, **context: Any) -> None:
        super().__init__("The card gateway failed; nothing was charged.")
        self.context = context

    def extra(self) -> dict[str, Any]:
        return dict(self.context)


class InvalidAmount(RuleValidationError):
    """An amount the services refuse (not positive, more than two places, too large), reported
    like a serializer's field error on ``field``."""

    def __init__(self, message: str, *, field: str = "amount") -> None:
        super().__init__({field: [message]})


class InvalidCardToken(RuleValidationError):
    def __init__(self) -> None:
        super().__init__({"card_token": ["Not a card token (expected tok_ and [a-z0-9_])."]})
