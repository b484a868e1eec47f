"""The payments' refusals, with the monolith's bodies (docs/payments-api.md, error bodies)."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from extracted.chassis.web.errors import ApiError, InvalidState, NotFound


class PaymentNotFound(NotFound):
    def __init__(self, payment_id: uuid.UUID | str) -> None:
        super().__init__(f"Payment '{payment_id}' not found.")


class PaymentNotInState(InvalidState):
    """409 ``invalid_state`` with ``"status": <current>``."""

    def __init__(self, status: str, *, expected: str) -> None:
        super().__init__(f"Payment is {status}, expected {expected}.")
        self.extra = {"status": status}


class RefundExceedsCaptured(ApiError):
    def __init__(self, refundable: Decimal) -> None:
        super().__init__(
            409,
            "refund_exceeds_captured",
            f"The refund exceeds what is left to refund ({refundable:.2f}).",
            refundable=f"{refundable:.2f}",
        )


class PaymentDeclined(ApiError):
    """402 with the gateway's reason and the stored declined attempt."""

    def __init__(self, reason: str, **context: Any) -> None:
        super().__init__(
            402, "payment_declined", "The card was declined.", reason=reason, **context
        )


class PaymentGatewayFailed(ApiError):
    def __init__(self) -> None:
        super().__init__(502, "gateway_error", "The card gateway failed; nothing was charged.")


class IdempotencyKeyReused(ApiError):
    def __init__(self) -> None:
        super().__init__(
            422,
            "idempotency_key_reused",
            "This Idempotency-Key was already used for a different request.",
        )
