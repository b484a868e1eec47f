"""The payments' refusals, with the monolith's codes and bodies (docs/payments-api.md, error
bodies); the API layer gives each its status (``extracted.chassis.web.errors.STATUS_BY_CODE``)."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from extracted.chassis.domain_errors import DomainError, InvalidStateError, NotFoundError


class PaymentNotFound(NotFoundError):
    def __init__(self, payment_id: uuid.UUID | str) -> None:
        super().__init__(f"Payment '{payment_id}' not found.")


class PaymentNotInState(InvalidStateError):
    """``invalid_state`` with ``"status": <current>``."""

    def __init__(self, status: str, *, expected: str) -> None:
        super().__init__(f"Payment is {status}, expected {expected}.", status=status)


class RefundExceedsCaptured(DomainError):
    code = "refund_exceeds_captured"

    def __init__(self, refundable: Decimal) -> None:
        super().__init__(
            f"The refund exceeds what is left to refund ({refundable:.2f}).",
            refundable=f"{refundable:.2f}",
        )


class PaymentDeclined(DomainError):
    """The gateway's reason and the stored declined attempt."""

    code = "payment_declined"

    def __init__(self, reason: str, **context: Any) -> None:
        super().__init__("The card was declined.", reason=reason, **context)


class PaymentGatewayFailed(DomainError):
    code = "gateway_error"

    def __init__(self) -> None:
        super().__init__("The card gateway failed; nothing was charged.")


class IdempotencyKeyReused(DomainError):
    code = "idempotency_key_reused"

    def __init__(self) -> None:
        super().__init__("This Idempotency-Key was already used for a different request.")
